using System.Text;
using Mesh.Gateway.Discovery;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;

namespace Mesh.Gateway.Routing;

/// <summary>
/// Builds YARP's routes and clusters from the fleet configuration: one cluster per (pool, variant), every public
/// streaming path routed. Operators declare backends, not proxy plumbing; a configuration change reloads it live. A
/// discovered entry (a DNS name for a pool) becomes one destination per address <see cref="BackendDiscovery"/> last
/// resolved, reloaded when those change, with the same health checks and balancing as a declared backend.
/// </summary>
public sealed class FleetProxyConfigProvider : IProxyConfigProvider, IDisposable
{
    public const string PoolKey = "Mesh.Pool";
    public const string VariantKey = "Mesh.Variant";
    public const string ActiveHealthPolicy = "ReadyzWithLoad";
    public const string PassiveHealthPolicy = "ServerErrors";

    /// <summary>How often each backend's <c>/readyz</c> is probed.</summary>
    public static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(2);

    /// <summary>Stands in when no backend is configured, so requests get a 503 envelope instead of a 404.</summary>
    public const string EmptyClusterId = "none";

    private readonly IOptionsMonitor<FleetOptions> _fleet;
    private readonly IOptionsMonitor<BalancingOptions> _balancing;
    private readonly BackendDiscovery _discovery;
    private readonly IDisposable?[] _subscriptions;

    // Reloads come from configuration and discovery threads; each must build from, and publish, the latest state.
    private readonly Lock _reloading = new();
    private volatile FleetConfig _config;

    public FleetProxyConfigProvider(
        IOptionsMonitor<FleetOptions> fleet,
        IOptionsMonitor<BalancingOptions> balancing,
        BackendDiscovery discovery)
    {
        _fleet = fleet;
        _balancing = balancing;
        _discovery = discovery;
        _config = Build();
        _subscriptions =
        [
            fleet.OnChange(_ => Reload()),
            balancing.OnChange(_ => Reload()),
            ChangeToken.OnChange(discovery.Watch, Reload),
        ];
    }

    public IProxyConfig GetConfig() => _config;

    public void Dispose()
    {
        foreach (var subscription in _subscriptions)
        {
            subscription?.Dispose();
        }
    }

    public static string ClusterId(string pool, string variant) => $"{pool}:{variant}";

    private void Reload()
    {
        lock (_reloading)
        {
            var previous = _config;
            _config = Build();
            previous.SignalChange();
        }
    }

    private FleetConfig Build()
    {
        var policy = _balancing.CurrentValue.Policy;
        var clusters = _fleet.CurrentValue.Backends
            .GroupBy(b => ClusterId(b.Pool, b.Variant))
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(group => new ClusterConfig
            {
                ClusterId = group.Key,
                LoadBalancingPolicy = policy,
                Metadata = new Dictionary<string, string> { [PoolKey] = group.First().Pool, [VariantKey] = group.First().Variant },
                HealthCheck = new HealthCheckConfig
                {
                    AvailableDestinationsPolicy = HealthCheckConstants.AvailableDestinations.HealthyAndUnknown,
                    Active = new ActiveHealthCheckConfig
                    {
                        Enabled = true,
                        Interval = ProbeInterval,
                        Timeout = TimeSpan.FromSeconds(2),
                        Policy = ActiveHealthPolicy,
                        Path = "/readyz",
                    },
                    // No ReactivationPeriod: only YARP's own TransportFailureRate policy reads it; ServerErrorsPolicy
                    // reads Mesh:Health:ReactivationSeconds itself, live.
                    Passive = new PassiveHealthCheckConfig { Enabled = true, Policy = PassiveHealthPolicy },
                },
                // Kestrel reads a client's header values as UTF-8; HttpClient sends only ASCII unless told, so a request
                // with a non-ASCII header (a User-Agent such as "Müller-App") failed before reaching the backend, and
                // counted as that backend's failure: three such requests ejected every backend.
                HttpClient = new HttpClientConfig { RequestHeaderEncoding = Encoding.UTF8.WebName },
                HttpRequest = new Yarp.ReverseProxy.Forwarder.ForwarderRequestConfig
                {
                    Version = System.Net.HttpVersion.Version11,
                    VersionPolicy = System.Net.Http.HttpVersionPolicy.RequestVersionExact,
                    // A long synthesis may be silent for a while before its first byte; YARP's default (100 s) would cut it.
                    ActivityTimeout = TimeSpan.FromMinutes(10),
                },
                Destinations = group.SelectMany(Destinations).ToDictionary(),
            })
            .ToList();
        if (clusters.Count == 0)
        {
            clusters.Add(new ClusterConfig { ClusterId = EmptyClusterId });
        }

        var defaultCluster = clusters[0].ClusterId;
        RouteConfig[] routes =
        [
            new() { RouteId = "speech", ClusterId = defaultCluster, Match = new RouteMatch { Path = "/v1/audio/speech/{**rest}" } },
            new() { RouteId = "websocket", ClusterId = defaultCluster, Match = new RouteMatch { Path = "/ws" } },
        ];
        return new FleetConfig(routes, clusters);
    }

    /// <summary>
    /// A declared backend as itself; a discovered one as one destination per address its host resolves to, named
    /// <c>NAME/ADDRESS</c> (a declared name cannot hold '/', so the two never collide).
    /// </summary>
    private IEnumerable<KeyValuePair<string, DestinationConfig>> Destinations(BackendEndpoint backend)
    {
        if (!backend.Discover)
        {
            return [new(backend.Name, new DestinationConfig { Address = backend.Address })];
        }

        var named = new Uri(backend.Address);
        return _discovery.AddressesOf(BackendDiscovery.HostOf(backend)).Select(address => KeyValuePair.Create(
            $"{backend.Name}/{address}",
            new DestinationConfig
            {
                Address = new UriBuilder(named) { Host = address.ToString() }.Uri.ToString(),
                // The request still names the host it was meant for, as a client of the Service would (virtual hosts, TLS names).
                Host = named.Authority,
            }));
    }

    private sealed class FleetConfig(IReadOnlyList<RouteConfig> routes, IReadOnlyList<ClusterConfig> clusters) : IProxyConfig
    {
        private readonly ConfigurationReloadToken _changed = new();

        public IReadOnlyList<RouteConfig> Routes => routes;

        public IReadOnlyList<ClusterConfig> Clusters => clusters;

        public IChangeToken ChangeToken => _changed;

        public void SignalChange() => _changed.OnReload();
    }
}
