using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Mesh.Contracts;
using Mesh.Gateway.Health;
using Yarp.ReverseProxy;

namespace Mesh.Gateway;

/// <summary>
/// Asks every backend not known to be down for its catalogue (<c>/v1/models</c>, <c>/v1/audio/voices</c>). A backend
/// that does not answer is left out of the merged answer and logged as a warning, so a model missing from the list has
/// a reason; one that answers it is loading its model is left out at debug level, as its probes report it already.
/// </summary>
public sealed partial class BackendCatalog(HttpClient client, IProxyStateLookup proxy, ILogger<BackendCatalog> logger)
{
    /// <summary>Every answering backend's models, one entry per id; null when none answered.</summary>
    public async Task<ModelList?> ModelsAsync(CancellationToken cancellationToken)
    {
        var lists = await QueryAsync("/v1/models", ContractsJsonContext.Wire.ModelList, cancellationToken);
        return lists is null
            ? null
            : ModelList.Of(lists.SelectMany(l => l.Data).GroupBy(m => m.Id).Select(g => ModelInfo.Merge([.. g])));
    }

    /// <summary>Every answering backend's voices, each (voice, model) once; null when none answered.</summary>
    public async Task<VoiceList?> VoicesAsync(CancellationToken cancellationToken)
    {
        var lists = await QueryAsync("/v1/audio/voices", ContractsJsonContext.Wire.VoiceList, cancellationToken);
        return lists is null ? null : new VoiceList([.. lists.SelectMany(l => l.Voices).DistinctBy(v => (v.Id, v.Model))]);
    }

    /// <summary>Each answering backend's reply (one per address); null when none answered.</summary>
    private async Task<T[]?> QueryAsync<T>(string path, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken)
        where T : class
    {
        var addresses = proxy.GetClusters()
            .SelectMany(c => c.Destinations.Values)
            .Where(d => !EjectedBackends.IsHeldOut(d))
            .Select(d => d.Model.Config.Address)
            .Distinct(StringComparer.Ordinal)
            .ToArray();
        var answers = await Task.WhenAll(addresses.Select(async address =>
        {
            try
            {
                using var response = await client.GetAsync(new Uri(new Uri(address), path), cancellationToken);
                if (await IsLoadingModelAsync(response, cancellationToken))
                {
                    LogBackendLoading(address, path);
                    return null;
                }

                response.EnsureSuccessStatusCode();
                return await response.Content.ReadFromJsonAsync(typeInfo, cancellationToken);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException && !cancellationToken.IsCancellationRequested)
            {
                LogBackendLeftOut(address, path, ex.Message);
                return null;
            }
        }));
        var received = answers.OfType<T>().ToArray();
        return received.Length == 0 ? null : received;
    }

    /// <summary>
    /// Whether the backend answered that its model is loading. A backend probed ready a moment ago, or not probed yet (just
    /// added to the fleet), may still be loading: its probes say so once, and each catalogue request need not.
    /// </summary>
    private static async Task<bool> IsLoadingModelAsync(HttpResponseMessage response, CancellationToken cancellationToken) =>
        response.StatusCode == HttpStatusCode.ServiceUnavailable
        && (await response.Content.ReadFromJsonAsync(ContractsJsonContext.Wire.ErrorEnvelope, cancellationToken))?.Error.Code == ErrorCodes.ModelNotReady;

    [LoggerMessage(Level = LogLevel.Debug, Message = "Backend {Address} is loading its model; it is left out of the gateway's answer to {Path}")]
    private partial void LogBackendLoading(string address, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Backend {Address} did not answer {Path} ({Reason}); it is left out of the gateway's answer")]
    private partial void LogBackendLeftOut(string address, string path, string reason);
}
