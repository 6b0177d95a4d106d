using Microsoft.Extensions.Options;

namespace Mesh.Gateway;

internal static partial class StartupLog
{
    /// <summary>Logs the effective configuration once; warns when no API keys protect the gateway.</summary>
    public static void EffectiveConfiguration(WebApplication app)
    {
        var fleet = app.Services.GetRequiredService<IOptions<FleetOptions>>().Value;
        var variants = app.Services.GetRequiredService<IOptions<VariantOptions>>().Value;
        var admission = app.Services.GetRequiredService<IOptions<AdmissionOptions>>().Value;
        var auth = app.Services.GetRequiredService<IOptions<AuthOptions>>().Value;
        var balancing = app.Services.GetRequiredService<IOptions<BalancingOptions>>().Value;
        var streaming = app.Services.GetRequiredService<IOptions<GatewayStreamBufferOptions>>().Value;
        foreach (var backend in fleet.Backends)
        {
            LogBackend(app.Logger, backend.Name, backend.Address, backend.Pool, backend.Variant, backend.Discover ? "discovered" : "declared");
        }

        if (fleet.Backends.Any(b => b.Discover))
        {
            var discovery = app.Services.GetRequiredService<IOptions<DiscoveryOptions>>().Value;
            LogDiscovery(app.Logger, discovery.HostsFile is { Length: > 0 } file ? $"hosts file {file}" : "DNS", discovery.RefreshMs, discovery.TimeoutMs);
        }

        LogBalancing(app.Logger, balancing.Policy);
        var weights = string.Join(", ", variants.Weights.Select(w => $"{w.Key}:{w.Value}"));
        LogSettings(
            app.Logger,
            weights,
            admission.TotalConcurrency,
            admission.RealtimeReserved,
            admission.Realtime.MaxQueue,
            admission.Batch.MaxQueue);
        LogStreaming(app.Logger, streaming.SendBufferBytes, streaming.BackendReceiveBufferBytes);
        if (auth.Keys.Count == 0)
        {
            LogNoKeys(app.Logger);
        }
        else
        {
            LogKeys(app.Logger, auth.Keys.Count);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Backend {Name} at {Address}: pool {Pool}, variant {Variant}, {Kind}")]
    private static partial void LogBackend(ILogger logger, string name, string address, string pool, string variant, string kind);

    [LoggerMessage(Level = LogLevel.Information, Message = "Discovered backends resolve through {Source} every {RefreshMs} ms (timeout {TimeoutMs} ms)")]
    private static partial void LogDiscovery(ILogger logger, string source, int refreshMs, int timeoutMs);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Variant weights [{Weights}]; admission {Total} slots ({Reserved} reserved for realtime), queues realtime {RealtimeQueue}, batch {BatchQueue}")]
    private static partial void LogSettings(ILogger logger, string weights, int total, int reserved, int realtimeQueue, int batchQueue);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Streaming: send buffer {SendBufferBytes} bytes per client connection, receive buffer {ReceiveBufferBytes} per backend connection")]
    private static partial void LogStreaming(ILogger logger, int sendBufferBytes, int receiveBufferBytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Balancing policy {Policy}")]
    private static partial void LogBalancing(ILogger logger, string policy);

    [LoggerMessage(Level = LogLevel.Warning, Message = "No API keys are configured: the gateway serves loopback clients only")]
    private static partial void LogNoKeys(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Count} API keys configured")]
    private static partial void LogKeys(ILogger logger, int count);
}
