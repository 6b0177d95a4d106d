using System.Collections.Concurrent;
using Mesh.Contracts.Http;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Mesh.Gateway;

/// <summary>
/// An <see cref="IOptionsMonitor{TOptions}"/> for settings reloaded while the gateway runs: a change that fails to
/// bind or to validate is logged once and the last settings that validated stay in force, where the framework's monitor
/// would throw on every read after it. Listeners hear only of changes that validated. The first read still throws on
/// invalid settings, so validation at start stops the gateway as before. <c>mesh_config_last_reload_successful</c>, under
/// the settings' section, says whether the latest change applied.
/// </summary>
public sealed partial class LastValidOptionsMonitor<TOptions> : IOptionsMonitor<TOptions>, IDisposable
    where TOptions : class
{
    private readonly IOptionsFactory<TOptions> _factory;
    private readonly ILogger<LastValidOptionsMonitor<TOptions>> _logger;
    private readonly Prometheus.Gauge.Child _applied;
    private readonly ConcurrentDictionary<string, TOptions> _inForce = new(StringComparer.Ordinal);

    // The reason each name's latest change was refused for, so a change reported twice by the file watcher, or an
    // unrelated file saved after it, does not log the same refusal again.
    private readonly ConcurrentDictionary<string, string> _refused = new(StringComparer.Ordinal);
    private readonly IDisposable[] _subscriptions;

    public LastValidOptionsMonitor(
        string section, IOptionsFactory<TOptions> factory, IEnumerable<IOptionsChangeTokenSource<TOptions>> changes, ILogger<LastValidOptionsMonitor<TOptions>> logger)
    {
        _factory = factory;
        _logger = logger;
        _applied = GatewayMetrics.LastReloadSuccessful.WithLabels(section);
        _applied.Set(1);
        _subscriptions = [.. changes.Select(source => ChangeToken.OnChange(source.GetChangeToken, () => Reload(source.Name ?? Options.DefaultName)))];
    }

    private event Action<TOptions, string?>? Changed;

    public TOptions CurrentValue => Get(Options.DefaultName);

    public TOptions Get(string? name) => _inForce.GetOrAdd(name ?? Options.DefaultName, _factory.Create);

    public IDisposable OnChange(Action<TOptions, string?> listener)
    {
        Changed += listener;
        return new Subscription(() => Changed -= listener);
    }

    public void Dispose()
    {
        foreach (var subscription in _subscriptions)
        {
            subscription.Dispose();
        }
    }

    private void Reload(string name)
    {
        TOptions options;
        try
        {
            options = _factory.Create(name);
        }
        catch (Exception ex) when (ConfigurationErrors.Describe(ex) is { } reason)
        {
            // A value that fails to bind ('abc' for a number) is refused like one that fails validation: thrown in the
            // file watcher's callback, it would otherwise go unlogged.
            if (_refused.TryGetValue(name, out var refusedFor) && refusedFor == reason)
            {
                return;
            }

            _refused[name] = reason;
            _applied.Set(0);
            LogReloadRefused(_logger, typeof(TOptions).Name, reason);
            return;
        }

        _refused.TryRemove(name, out _);
        _applied.Set(1);
        _inForce[name] = options;
        Changed?.Invoke(options, name);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The changed {Options} settings were refused; the settings in force stay: {Reason}")]
    private static partial void LogReloadRefused(ILogger logger, string options, string reason);

    private sealed class Subscription(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }
}
