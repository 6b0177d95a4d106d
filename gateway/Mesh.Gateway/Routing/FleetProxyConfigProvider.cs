using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;

namespace Mesh.Gateway.Routing;

/// <summary>
/// Builds YARP's routes and clusters from the fleet configuration: one cluster per (pool, variant), every public
/// streaming path routed. Operators declare backends, not proxy plumbing; a configuration change reloads it live.
/// </summary>
public sealed class FleetProxyConfigProvider : IProxyConfigProvider, IDisposable
{
    public const string PoolKey = "Mesh.Pool";
    public const string VariantKey = "Mesh.Variant";
    public const string ActiveHealthPolicy = "ReadyzWithLoad";
    public const string PassiveHealthPolicy = "ServerErrors";

    /// <summary>Stands in when no backend is configured, so requests get a 503 envelope instead of a 404.</summary>
    public const string EmptyClusterId = "none";

    private readonly IOptionsMonitor<FleetOptions> _fleet;
    private readonly IOptionsMonitor<PassiveHealthOptions> _health;
    private readonly IOptionsMonitor<BalancingOptions> _balancing;
    private readonly IDisposable? _subscription;
    private readonly IDisposable? _balancingSubscription;
    private volatile FleetConfig _config;

    public FleetProxyConfigProvider(
        IOptionsMonitor<FleetOptions> fleet, IOptionsMonitor<PassiveHealthOptions> health, IOptionsMonitor<BalancingOptions> balancing)
    {
        _fleet = fleet;
        _health = health;
        _balancing = balancing;
        _config = Build();
        _subscription = fleet.OnChange(_ => Reload());
        _balancingSubscription = balancing.OnChange(_ => Reload());
    }

    public IProxyConfig GetConfig() => _config;

    public void Dispose()
    {
        _subscription?.Dispose();
        _balancingSubscription?.Dispose();
    }

    public static string ClusterId(string pool, string variant) => $"{pool}:{variant}";

    private void Reload()
    {
        var previous = _config;
        _config = Build();
        previous.SignalChange();
    }

    private FleetConfig Build()
    {
        var reactivation = TimeSpan.FromSeconds(_health.CurrentValue.ReactivationSeconds);
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
                        Interval = TimeSpan.FromSeconds(2),
                        Timeout = TimeSpan.FromSeconds(2),
                        Policy = ActiveHealthPolicy,
                        Path = "/readyz",
                    },
                    Passive = new PassiveHealthCheckConfig { Enabled = true, Policy = PassiveHealthPolicy, ReactivationPeriod = reactivation },
                },
                HttpRequest = new Yarp.ReverseProxy.Forwarder.ForwarderRequestConfig
                {
                    Version = System.Net.HttpVersion.Version11,
                    VersionPolicy = System.Net.Http.HttpVersionPolicy.RequestVersionExact,
                    // A long synthesis may be silent for a while before its first byte; YARP's default (100 s) would cut it.
                    ActivityTimeout = TimeSpan.FromMinutes(10),
                },
                Destinations = group.ToDictionary(b => b.Name, b => new DestinationConfig { Address = b.Address }),
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

    private sealed class FleetConfig(IReadOnlyList<RouteConfig> routes, IReadOnlyList<ClusterConfig> clusters) : IProxyConfig
    {
        private readonly ConfigurationReloadToken _changed = new();

        public IReadOnlyList<RouteConfig> Routes => routes;

        public IReadOnlyList<ClusterConfig> Clusters => clusters;

        public IChangeToken ChangeToken => _changed;

        public void SignalChange() => _changed.OnReload();
    }
}
