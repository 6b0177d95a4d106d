using Mesh.Contracts;
using Mesh.Contracts.Http;
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
    public const string HttpClientName = "backends";

    public static IEndpointRouteBuilder MapCatalogEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGetAndHead("/v1/models", async (IProxyStateLookup proxy, IHttpClientFactory clients, CancellationToken cancellationToken) =>
            await ModelsAsync(proxy, clients, cancellationToken) is { } models
                ? TypedResults.Json(models, ContractsJsonContext.Wire.ModelList)
                : NoBackend());
        app.MapGetAndHead("/v1/models/{id}", async (string id, IProxyStateLookup proxy, IHttpClientFactory clients, CancellationToken cancellationToken) =>
            await ModelsAsync(proxy, clients, cancellationToken) is { } models ? ApiResults.Model(models, id) : NoBackend());
        app.MapGetAndHead("/v1/audio/voices", async (IProxyStateLookup proxy, IHttpClientFactory clients, CancellationToken cancellationToken) =>
        {
            var lists = await QueryAsync(proxy, clients, "/v1/audio/voices", ContractsJsonContext.Wire.VoiceList, cancellationToken);
            return lists is null
                ? NoBackend()
                : TypedResults.Json(new VoiceList([.. lists.SelectMany(l => l.Voices).DistinctBy(v => (v.Id, v.Model))]), ContractsJsonContext.Wire.VoiceList);
        });
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

    /// <summary>Every ready backend's models, one entry per id; null when no backend answered.</summary>
    private static async Task<ModelList?> ModelsAsync(IProxyStateLookup proxy, IHttpClientFactory clients, CancellationToken cancellationToken)
    {
        var lists = await QueryAsync(proxy, clients, "/v1/models", ContractsJsonContext.Wire.ModelList, cancellationToken);
        return lists is null
            ? null
            : new ModelList("list", [.. lists.SelectMany(l => l.Data).GroupBy(m => m.Id).Select(g => ModelInfo.Merge([.. g])).OrderBy(m => m.Id, StringComparer.Ordinal)]);
    }

    private static IResult NoBackend() => ApiResults.Error(ApiError.Unavailable("No healthy backend is available; retry shortly.", "no_healthy_backend"));

    /// <summary>Each ready backend's answer (one per address); null when none answered.</summary>
    private static async Task<T[]?> QueryAsync<T>(
        IProxyStateLookup proxy, IHttpClientFactory clients, string path, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken)
        where T : class
    {
        var addresses = proxy.GetClusters()
            .SelectMany(c => c.Destinations.Values)
            .Where(d => d.Health.Active != DestinationHealth.Unhealthy && d.Health.Passive != DestinationHealth.Unhealthy)
            .Select(d => d.Model.Config.Address)
            .Distinct(StringComparer.Ordinal)
            .ToArray();
        var client = clients.CreateClient(HttpClientName);
        var answers = await Task.WhenAll(addresses.Select(async address =>
        {
            try
            {
                return await client.GetFromJsonAsync(new Uri(new Uri(address), path), typeInfo, cancellationToken);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
            {
                return null;
            }
        }));
        var received = answers.OfType<T>().ToArray();
        return received.Length == 0 ? null : received;
    }
}
