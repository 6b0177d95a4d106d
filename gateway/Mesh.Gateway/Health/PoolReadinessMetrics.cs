using Mesh.Gateway.Routing;
using Prometheus;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace Mesh.Gateway.Health;

/// <summary>
/// <c>mesh_pool_ready_backends</c>, read from the proxy at each scrape: every pool the fleet names has the series, so a
/// pool with no backend at all (a discovered Service with no pods) reads 0 where <c>mesh_backend_healthy</c>, a series
/// per backend, has nothing for an alert to see.
/// </summary>
public static class PoolReadinessMetrics
{
    public static void ExportPoolReadiness(this WebApplication app)
    {
        var proxy = app.Services.GetRequiredService<IProxyStateLookup>();
        Metrics.DefaultRegistry.AddBeforeCollectCallback(() => Export(proxy));
    }

    private static void Export(IProxyStateLookup proxy)
    {
        var ready = proxy.GetClusters()
            .Where(c => c.Model.Config.Metadata?.ContainsKey(FleetProxyConfigProvider.VariantKey) == true)
            .ToDictionary(c => c.ClusterId, c => c.Destinations.Values.Count(d => d.Health.Active == DestinationHealth.Healthy));
        foreach (var labels in GatewayMetrics.PoolReadyBackends.GetAllLabelValues().Where(l => !ready.ContainsKey(l[0])))
        {
            GatewayMetrics.PoolReadyBackends.RemoveLabelled(labels);
        }

        foreach (var (cluster, count) in ready)
        {
            GatewayMetrics.PoolReadyBackends.WithLabels(cluster).Set(count);
        }
    }
}
