using Mesh.Tests.Integration;

namespace Mesh.Tests.Reliability;

/// <summary>
/// A second gateway in front of the shared fleet's backends, with short Kestrel timeouts (so slow clients are cut off
/// within a test's patience), a small connection cap, and configured CORS and WebSocket origins. Started on first use.
/// </summary>
public sealed class ConfiguredGateway : IAsyncLifetime
{
    public const string AllowedOrigin = "http://app.example";
    public const int MaxConnections = 16;

    private readonly object _gate = new();
    private Task<HostProcess>? _start;

    /// <summary>The gateway, started by the first caller; later callers share it.</summary>
    public Task<HostProcess> StartAsync(MeshFleet fleet)
    {
        lock (_gate)
        {
            return _start ??= StartCoreAsync(fleet);
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_start is { IsCompletedSuccessfully: true } started)
        {
            await (await started).DisposeAsync();
        }
    }

    private static async Task<HostProcess> StartCoreAsync(MeshFleet fleet)
    {
        var gateway = await MeshFleet.StartGatewayAsync(
            fleet.Backends.Select(b => b.Url),
            "--Kestrel:Limits:RequestHeadersTimeout=00:00:01",
            "--Kestrel:Limits:MinRequestBodyDataRate:BytesPerSecond=1000",
            "--Kestrel:Limits:MinRequestBodyDataRate:GracePeriod=00:00:02",
            $"--Kestrel:Limits:MaxConcurrentConnections={MaxConnections}",
            $"--Mesh:Cors:AllowedOrigins:0={AllowedOrigin}",
            $"--Mesh:WebSockets:AllowedOrigins:0={AllowedOrigin}");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        return gateway;
    }
}
