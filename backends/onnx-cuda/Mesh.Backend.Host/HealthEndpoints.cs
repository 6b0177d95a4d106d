using Mesh.Backend.Pipeline.Scheduling;
using Mesh.Contracts.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Mesh.Backend.Host;

public static class HealthEndpoints
{
    public static IEndpointRouteBuilder MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGetAndHead("/healthz", () => TypedResults.Text("alive"));
        app.MapGetAndHead("/readyz", async Task<Results<ContentHttpResult, ProblemHttpResult>> (
            ModelHost host, SynthesisScheduler scheduler, IOptions<FaultOptions> faults, CancellationToken cancellationToken) =>
        {
            if (faults.Value.ProbeDelayMs > 0 && scheduler.Load > 0)
            {
                await Task.Delay(faults.Value.ProbeDelayMs, cancellationToken);
            }

            return ReadinessOf(host);
        });
        return app;
    }

    private static Results<ContentHttpResult, ProblemHttpResult> ReadinessOf(ModelHost host) =>
        host.IsReady
            ? TypedResults.Text(host.Status)
            : TypedResults.Problem(host.Status, statusCode: StatusCodes.Status503ServiceUnavailable, title: "not ready");
}
