using Mesh.Contracts;
using Microsoft.AspNetCore.Http.HttpResults;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace Mesh.Gateway;

public static class GatewayEndpoints
{
    public static IEndpointRouteBuilder MapGatewayEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => TypedResults.Text("alive"));
        app.MapGet("/readyz", Readiness);
        app.MapFallback(() => Results.Json(
            ApiError.NotFound("No such endpoint.", null, "unknown_url").ToEnvelope(),
            ContractsJsonContext.Default.ErrorEnvelope,
            statusCode: StatusCodes.Status404NotFound));
        return app;
    }

    /// <summary>Ready when every pool has at least one backend whose <c>/readyz</c> probe passed.</summary>
    private static Results<Ok<string>, ProblemHttpResult> Readiness(IProxyStateLookup proxyState)
    {
        var notReady = proxyState.GetClusters()
            .Where(cluster => !cluster.Destinations.Values.Any(d => d.Health.Active == DestinationHealth.Healthy))
            .Select(cluster => cluster.ClusterId)
            .ToArray();
        return notReady.Length == 0
            ? TypedResults.Ok("ready")
            : TypedResults.Problem($"No ready backend in pool(s): {string.Join(", ", notReady)}", statusCode: StatusCodes.Status503ServiceUnavailable, title: "not ready");
    }
}
