using Mesh.Contracts.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Mesh.Backend.Host;

public static class HealthEndpoints
{
    public static IEndpointRouteBuilder MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGetAndHead("/healthz", () => TypedResults.Text("alive"));
        app.MapGetAndHead("/readyz", Results<Ok<string>, ProblemHttpResult> (ModelHost host) => ReadinessOf(host));
        return app;
    }

    private static Results<Ok<string>, ProblemHttpResult> ReadinessOf(ModelHost host) =>
        host.IsReady
            ? TypedResults.Ok(host.Status)
            : TypedResults.Problem(host.Status, statusCode: StatusCodes.Status503ServiceUnavailable, title: "not ready");
}
