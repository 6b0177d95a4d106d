using Mesh.Contracts.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace Mesh.Gateway;

public static class GatewayEndpoints
{
    /// <summary>The gateway's own probe and scrape paths: open without a key, and not counted as client requests.</summary>
    public static readonly IReadOnlyList<string> ProbePaths = ["/healthz", "/readyz", "/metrics"];

    public static IEndpointRouteBuilder MapGatewayEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGetAndHead("/healthz", () => TypedResults.Text("alive"));
        app.MapGetAndHead("/readyz", Readiness);
        // Every path, including ones that look like files (the default fallback pattern skips those), so /v1/x.json
        // or a stray /favicon.ico get the envelope too.
        app.MapFallback("{**path}", (HttpRequest request) => ApiResults.Error(ApiResults.UnknownUrl(request)));
        return app;
    }

    /// <summary>Ready when every pool has at least one backend whose <c>/readyz</c> probe passed.</summary>
    private static Results<ContentHttpResult, ProblemHttpResult> Readiness(IProxyStateLookup proxyState, DrainState drain)
    {
        if (drain.IsDraining)
        {
            return TypedResults.Problem("The gateway is shutting down.", statusCode: StatusCodes.Status503ServiceUnavailable, title: "draining");
        }

        var clusters = proxyState.GetClusters().ToArray();
        var notReady = clusters
            .Where(cluster => !cluster.Destinations.Values.Any(d => d.Health.Active == DestinationHealth.Healthy))
            .Select(cluster => cluster.ClusterId)
            .ToArray();
        return clusters.Length > 0 && notReady.Length == 0
            ? TypedResults.Text("ready")
            : TypedResults.Problem($"No ready backend in pool(s): {string.Join(", ", notReady)}", statusCode: StatusCodes.Status503ServiceUnavailable, title: "not ready");
    }
}
