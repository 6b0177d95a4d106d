using System.Collections.Frozen;
using System.Net;
using System.Net.Sockets;
using System.Numerics;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Mesh.Gateway.Discovery;

/// <summary>
/// Resolves the host of every fleet entry marked <see cref="BackendEndpoint.Discover"/> at start, then every
/// <c>RefreshMs</c> and whenever the fleet changes, and signals <see cref="Watch"/> when any host's set of addresses
/// changed, so the proxy configuration follows a pool's scale-out and scale-in without a restart. A lookup that fails,
/// times out or comes back empty keeps the host's last known addresses and is logged and counted.
/// </summary>
public sealed partial class BackendDiscovery : BackgroundService
{
    private readonly IOptionsMonitor<FleetOptions> _fleet;
    private readonly IBackendAddressResolver _resolver;
    private readonly ILogger<BackendDiscovery> _logger;
    private readonly TimeSpan _refresh;
    private readonly TimeSpan _timeout;
    private readonly IDisposable? _fleetSubscription;

    // Released when the fleet changes, so a newly named host is resolved at once rather than at the next tick.
    private readonly SemaphoreSlim _wake = new(0, 1);

    // Refreshes from the loop and from callers (tests, start) must not interleave their read-compare-publish.
    private readonly SemaphoreSlim _refreshing = new(1, 1);
    private volatile FrozenDictionary<string, IPAddress[]> _addresses = FrozenDictionary<string, IPAddress[]>.Empty;
    private ConfigurationReloadToken _changed = new();

    public BackendDiscovery(
        IOptionsMonitor<FleetOptions> fleet, IOptions<DiscoveryOptions> options, IBackendAddressResolver resolver, ILogger<BackendDiscovery> logger)
    {
        _fleet = fleet;
        _resolver = resolver;
        _logger = logger;
        _refresh = TimeSpan.FromMilliseconds(options.Value.RefreshMs);
        _timeout = TimeSpan.FromMilliseconds(options.Value.TimeoutMs);
        _fleetSubscription = fleet.OnChange(_ => Wake());
    }

    /// <summary>The host's addresses as last resolved, in a stable order; empty before its first good answer.</summary>
    public IReadOnlyList<IPAddress> AddressesOf(string host) => _addresses.GetValueOrDefault(host) ?? [];

    /// <summary>Fires once, the next time some host's set of addresses changes.</summary>
    public IChangeToken Watch() => Volatile.Read(ref _changed);

    /// <summary>The host a discovered entry's address names, as it is looked up.</summary>
    public static string HostOf(BackendEndpoint backend) => new Uri(backend.Address).IdnHost;

    /// <summary>Resolves every discovered host once; true when any host's set of addresses changed.</summary>
    public async Task<bool> RefreshAsync(CancellationToken cancellationToken)
    {
        await _refreshing.WaitAsync(cancellationToken);
        try
        {
            var previous = _addresses;
            var hosts = _fleet.CurrentValue.Backends.Where(b => b.Discover).Select(HostOf).Distinct(StringComparer.OrdinalIgnoreCase).ToArray();
            var resolved = await Task.WhenAll(hosts.Select(host => ResolveAsync(host, previous.GetValueOrDefault(host) ?? [], cancellationToken)));
            var current = hosts.Zip(resolved).ToFrozenDictionary(h => h.First, h => h.Second, StringComparer.OrdinalIgnoreCase);
            foreach (var gone in previous.Keys.Except(current.Keys, StringComparer.OrdinalIgnoreCase))
            {
                GatewayMetrics.DiscoveredAddresses.RemoveLabelled(gone);
                GatewayMetrics.DiscoveryFailures.RemoveLabelled(gone);
            }

            var changed = previous.Keys.Union(current.Keys, StringComparer.OrdinalIgnoreCase)
                .Any(host => !(previous.GetValueOrDefault(host) ?? []).SequenceEqual(current.GetValueOrDefault(host) ?? []));
            _addresses = current;
            if (changed)
            {
                Interlocked.Exchange(ref _changed, new ConfigurationReloadToken()).OnReload();
            }

            return changed;
        }
        finally
        {
            _refreshing.Release();
        }
    }

    /// <summary>Resolves once before the gateway starts serving, so a discovered pool does not start empty.</summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await RefreshAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    public override void Dispose()
    {
        _fleetSubscription?.Dispose();
        _wake.Dispose();
        _refreshing.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(_refresh, stoppingToken);
                await RefreshAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private void Wake()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // A refresh is already due.
        }
    }

    /// <summary>The host's addresses, distinct and ordered so that a reordered answer is no change; the last known ones when the lookup fails.</summary>
    private async Task<IPAddress[]> ResolveAsync(string host, IPAddress[] lastKnown, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        string reason;
        try
        {
            // WaitAsync bounds a resolver that does not honour cancellation, so one stuck lookup cannot stop the refreshes.
            var answer = await _resolver.ResolveAsync(host, timeout.Token).WaitAsync(timeout.Token);
            var addresses = answer
                .Where(a => a.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
                .Distinct()
                .OrderBy(a => a.AddressFamily)
                .ThenBy(a => new BigInteger(a.GetAddressBytes(), isUnsigned: true, isBigEndian: true))
                .ToArray();
            if (addresses.Length > 0)
            {
                if (!addresses.SequenceEqual(lastKnown))
                {
                    LogResolved(_logger, host, addresses.Length, addresses);
                }

                Observe(host, addresses, failed: false);
                return addresses;
            }

            reason = "no A or AAAA records";
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            reason = $"no answer within {_timeout.TotalMilliseconds:0} ms";
        }
        catch (Exception ex) when (ex is SocketException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            reason = ex.Message;
        }

        LogFailed(_logger, host, reason, lastKnown.Length);
        Observe(host, lastKnown, failed: true);
        return lastKnown;
    }

    private static void Observe(string host, IPAddress[] addresses, bool failed)
    {
        GatewayMetrics.DiscoveredAddresses.WithLabels(host).Set(addresses.Length);
        var failures = GatewayMetrics.DiscoveryFailures.WithLabels(host);
        if (failed)
        {
            failures.Inc();
        }
        else
        {
            // The failure rate then reads 0 rather than no data until the first failure.
            failures.Publish();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Backend host {Host} resolves to {Count} address(es): {Addresses}")]
    private static partial void LogResolved(ILogger logger, string host, int count, IPAddress[] addresses);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Resolving backend host {Host} failed ({Reason}); keeping its {Count} last known address(es)")]
    private static partial void LogFailed(ILogger logger, string host, string reason, int count);
}
