using Mesh.Contracts;
using Mesh.Contracts.Http;
using Mesh.Gateway.Health;
using Mesh.Gateway.Routing;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace Mesh.Gateway;

/// <summary>
/// <c>/v1/models</c> and <c>/v1/audio/voices</c>, answered by the gateway itself from every ready backend, and
/// <c>/v1/mesh/variants</c> from its own configuration.
/// </summary>
public static class CatalogEndpoints
{
    public static IEndpointRouteBuilder MapCatalogEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGetAndHead("/v1/models", async (BackendCatalog catalog, CancellationToken cancellationToken) =>
            await catalog.ModelsAsync(cancellationToken) is { } models
                ? TypedResults.Json(models, ContractsJsonContext.Wire.ModelList)
                : NoBackend);
        app.MapGetAndHead("/v1/models/{id}", async (string id, HttpRequest request, BackendCatalog catalog, CancellationToken cancellationToken) =>
            await catalog.ModelsAsync(cancellationToken) is { } models ? ApiResults.Model(models, RouteSegments.LastDecoded(request, id)) : NoBackend);
        app.MapGetAndHead("/v1/audio/voices", async (BackendCatalog catalog, CancellationToken cancellationToken) =>
            await catalog.VoicesAsync(cancellationToken) is { } voices
                ? TypedResults.Json(voices, ContractsJsonContext.Wire.VoiceList)
                : NoBackend);
        app.MapGetAndHead("/v1/mesh/variants", (IProxyStateLookup proxy, IOptionsMonitor<VariantOptions> options) =>
            TypedResults.Json(Variants(proxy, options.CurrentValue), ContractsJsonContext.Wire.VariantList));
        return app;
    }

    /// <summary>Every variant with a backend, the share of traffic it is assigned and what of it is ready.</summary>
    public static VariantList Variants(IProxyStateLookup proxy, VariantOptions options)
    {
        var byVariant = proxy.GetClusters()
            .Where(c => c.Model.Config.Metadata?.ContainsKey(FleetProxyConfigProvider.VariantKey) == true)
            .GroupBy(c => c.Model.Config.Metadata![FleetProxyConfigProvider.VariantKey], StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);
        if (byVariant.Count == 0)
        {
            return new VariantList("list", []);
        }

        var weights = VariantAssigner.EffectiveWeights(byVariant.Keys.ToHashSet(StringComparer.Ordinal), options.Weights);
        var total = weights.Values.Sum();
        var variants = byVariant
            .OrderBy(v => v.Key, StringComparer.Ordinal)
            .Select(v => new VariantInfo(
                v.Key,
                Math.Round(weights.GetValueOrDefault(v.Key) / total, 4),
                [.. v.Value.Select(c => c.Model.Config.Metadata![FleetProxyConfigProvider.PoolKey]).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)],
                v.Value.SelectMany(c => c.Destinations.Values).Count(d => d.Health.Active == DestinationHealth.Healthy)))
            .ToArray();
        return new VariantList("list", variants);
    }


    /// <summary>
    /// 503 <c>no_healthy_backend</c>, advising a wait until the first backend of any pool is expected back. Those that
    /// looked healthy were asked and did not answer: not expected back before a probe finds them ready, so with no other
    /// the wait is one probe interval.
    /// </summary>
    private static readonly IResult NoBackend = new NoBackendResult();

    private sealed class NoBackendResult : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            var services = httpContext.RequestServices;
            var destinations = services.GetRequiredService<IProxyStateLookup>().GetClusters()
                .SelectMany(cluster => cluster.Destinations.Values)
                .Where(EjectedBackends.IsHeldOut);
            services.GetRequiredService<EjectedBackends>().AdviseRetry(httpContext.Response, destinations);
            return ApiResults.WriteErrorAsync(httpContext, EjectedBackends.NoHealthyBackend);
        }
    }
}
