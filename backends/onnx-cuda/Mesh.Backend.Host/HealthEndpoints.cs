using Mesh.Contracts.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Mesh.Backend.Host;

public static class HealthEndpoints
{
    public static IEndpointRouteBuilder MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGetAndHead("/healthz", () => TypedResults.Text("alive"));
        app.MapGetAndHead("/readyz", Results<ContentHttpResult, ProblemHttpResult> (ModelHost host) => ReadinessOf(host));
        return app;
    }

    private static Results<ContentHttpResult, ProblemHttpResult> ReadinessOf(ModelHost host) =>
        host.IsReady
            ? TypedResults.Text(host.Status)
            : TypedResults.Problem(host.Status, statusCode: StatusCodes.Status503ServiceUnavailable, title: "not ready");
}
