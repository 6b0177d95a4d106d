using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Contracts.Http;

/// <summary>
/// Shutdown settings of a gateway or backend, each of which binds them as a class of its own that names its section, so
/// that a refused one is named by its key as written.
/// </summary>
public class ShutdownOptions
{
    /// <summary>How long readiness stays false before the listener closes, so probes (every 2 s) see it first.</summary>
    [Range(0, 60)]
    public int ReadinessGraceSeconds { get; set; } = 3;

    /// <summary>How long in-flight streams may run to their end after the listener closed.</summary>
    [Range(1, 3600)]
    public int DrainTimeoutSeconds { get; set; } = 30;
}

/// <summary>Whether shutdown has begun: readiness answers 503 from then on.</summary>
public sealed class DrainState : IDisposable
{
    private readonly CancellationTokenSource _drainEnded = new();
    private volatile bool _draining;

    public bool IsDraining => _draining;

    /// <summary>
    /// Cancelled when the drain time has run out, <see cref="GracefulShutdown.EndAllowance"/> before the host aborts what
    /// still runs: a stream still running then can end with an error of its own rather than be cut.
    /// </summary>
    public CancellationToken DrainEnded => _drainEnded.Token;

    /// <param name="drainEndsIn">From now, the readiness grace and the drain time.</param>
    public void Begin(TimeSpan drainEndsIn)
    {
        _draining = true;
        _drainEnded.CancelAfter(drainEndsIn);
    }

    public void Dispose() => _drainEnded.Dispose();
}

/// <summary>
/// SIGTERM order for every Mesh process: readiness false first (<see cref="DrainState"/>), a grace period in which
/// probes and balancers notice, then the host stops listening and gives in-flight streams the drain time.
/// </summary>
public sealed partial class GracefulShutdown(
    DrainState state, IOptions<ShutdownOptions> options, IOptions<HostOptions> host, ILogger<GracefulShutdown> logger) : IHostedLifecycleService
{
    /// <summary>
    /// The time past the drain before the host aborts what still runs, in which a stream ended at the drain's end
    /// (<see cref="DrainState.DrainEnded"/>) writes its error.
    /// </summary>
    public static readonly TimeSpan EndAllowance = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Gives the host's stop the grace and drain time and <see cref="EndAllowance"/>. Set here, not by configuring
    /// <see cref="HostOptions"/>: the host reads those as it is built, before the settings are validated, and a refused
    /// shutdown setting would then be named alone, hiding every other one refused.
    /// </summary>
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        host.Value.ShutdownTimeout =
            TimeSpan.FromSeconds(options.Value.ReadinessGraceSeconds + options.Value.DrainTimeoutSeconds) + EndAllowance;
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        state.Begin(TimeSpan.FromSeconds(options.Value.ReadinessGraceSeconds + options.Value.DrainTimeoutSeconds));
        LogDraining(logger, options.Value.ReadinessGraceSeconds, options.Value.DrainTimeoutSeconds);
        await Task.Delay(TimeSpan.FromSeconds(options.Value.ReadinessGraceSeconds), cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Draining: not ready; the listener closes in {GraceSeconds} s, in-flight streams get {DrainSeconds} s")]
    private static partial void LogDraining(ILogger logger, int graceSeconds, int drainSeconds);
}

public static class GracefulShutdownRegistration
{
    /// <summary>Binds <typeparamref name="TOptions"/> from <paramref name="section"/> and orders shutdown as above.</summary>
    public static IServiceCollection AddGracefulShutdown<TOptions>(this IServiceCollection services, string section)
        where TOptions : ShutdownOptions
    {
        services.AddOptions<TOptions>().BindConfiguration(section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IOptions<ShutdownOptions>>(provider => provider.GetRequiredService<IOptions<TOptions>>());
        services.AddSingleton<DrainState>();
        services.AddHostedService<GracefulShutdown>();
        return services;
    }
}
