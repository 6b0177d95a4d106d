using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Mesh.Backend.Host;

/// <summary>Shutdown settings (section <c>Shutdown</c>).</summary>
public sealed class ShutdownOptions
{
    public const string Section = "Shutdown";

    /// <summary>How long readiness stays false before the listener closes, so probes (every 2 s) see it first.</summary>
    [Range(0, 60)]
    public int ReadinessGraceSeconds { get; set; } = 3;

    /// <summary>How long in-flight streams may run to their end after the listener closed.</summary>
    [Range(1, 3600)]
    public int DrainTimeoutSeconds { get; set; } = 30;
}

/// <summary>
/// SIGTERM order: readiness false and new requests refused with 503 (the gateway retries them elsewhere), a grace
/// period for the probes to notice, then the host stops listening and waits for in-flight streams to finish.
/// </summary>
public sealed partial class GracefulShutdown(ModelHost host, IOptions<ShutdownOptions> options, ILogger<GracefulShutdown> logger) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        host.BeginDraining();
        LogDraining(logger, options.Value.ReadinessGraceSeconds, options.Value.DrainTimeoutSeconds);
        await Task.Delay(TimeSpan.FromSeconds(options.Value.ReadinessGraceSeconds), cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Draining: not ready, refusing new requests; listener closes in {GraceSeconds} s, in-flight streams get {DrainSeconds} s")]
    private static partial void LogDraining(ILogger logger, int graceSeconds, int drainSeconds);
}
