using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Mesh.Gateway;

/// <summary>Shutdown settings (section <c>Mesh:Shutdown</c>).</summary>
public sealed class GatewayShutdownOptions
{
    public const string Section = "Mesh:Shutdown";

    /// <summary>How long <c>/readyz</c> answers 503 while still serving, so a load balancer in front stops sending first.</summary>
    [Range(0, 60)]
    public int ReadinessGraceSeconds { get; set; } = 3;

    /// <summary>How long in-flight streams may run to their end after the listener closed.</summary>
    [Range(1, 3600)]
    public int DrainTimeoutSeconds { get; set; } = 30;
}

/// <summary>SIGTERM order at the gateway: readiness false first, a grace period, then drain in-flight streams and exit.</summary>
public sealed partial class GatewayShutdown(IOptions<GatewayShutdownOptions> options, ILogger<GatewayShutdown> logger) : IHostedLifecycleService
{
    private volatile bool _draining;

    public bool IsDraining => _draining;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        _draining = true;
        LogDraining(logger, options.Value.ReadinessGraceSeconds, options.Value.DrainTimeoutSeconds);
        await Task.Delay(TimeSpan.FromSeconds(options.Value.ReadinessGraceSeconds), cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Draining: /readyz answers 503; listener closes in {GraceSeconds} s, in-flight streams get {DrainSeconds} s")]
    private static partial void LogDraining(ILogger logger, int graceSeconds, int drainSeconds);
}
