using System.Collections.Concurrent;
using Mesh.Gateway.Balancing;
using Yarp.ReverseProxy.Model;

namespace Mesh.Gateway.Routing;

/// <summary>
/// The backends the proxy has now and the cluster of each, followed through YARP's cluster changes. A backend that a
/// fleet file or discovery reload removed loses its <c>mesh_backend_healthy</c>, <c>mesh_backend_load</c> and
/// <c>mesh_backend_ejections_total</c> series and its reported load at once; left behind, a scaled-in backend would be
/// exported as unready forever. YARP calls this after applying a change, so a probe or answer of a removed backend
/// that comes back later finds it gone here and records nothing.
/// </summary>
public sealed class CurrentBackends(BackendLoad load, BackendLabels labels) : IClusterChangeListener
{
    private readonly Lock _changing = new();

    // Read on every proxied request without a lock; a destination removed and added again is a new DestinationState.
    private readonly ConcurrentDictionary<DestinationState, ClusterState> _clusters = new();

    /// <summary>
    /// The cluster <paramref name="destination"/> belongs to, or null once the proxy no longer has it. For a request
    /// that routing moved to its variant's cluster this is that cluster, not the route's that YARP passes to policies.
    /// </summary>
    public ClusterState? ClusterOf(DestinationState destination) => _clusters.GetValueOrDefault(destination);

    public void OnClusterAdded(ClusterState cluster) => Update(cluster, [.. cluster.Destinations.Values]);

    public void OnClusterChanged(ClusterState cluster) => Update(cluster, [.. cluster.Destinations.Values]);

    public void OnClusterRemoved(ClusterState cluster) => Update(cluster, []);

    private void Update(ClusterState cluster, DestinationState[] current)
    {
        lock (_changing)
        {
            var previous = _clusters.Where(entry => entry.Value == cluster).Select(entry => entry.Key).ToArray();
            foreach (var added in current.Except(previous))
            {
                _clusters[added] = cluster;
                load.Track(added.DestinationId);
            }

            foreach (var gone in previous.Except(current))
            {
                _clusters.TryRemove(gone, out _);
                labels.Write(gone.DestinationId, label =>
                {
                    GatewayMetrics.BackendHealthy.RemoveLabelled(label, cluster.ClusterId);
                    GatewayMetrics.Ejections.RemoveLabelled(label, cluster.ClusterId);
                });

                // The load and the name have no cluster: a backend moved to another pool keeps them.
                if (!_clusters.Keys.Any(destination => destination.DestinationId == gone.DestinationId))
                {
                    load.Forget(gone.DestinationId);
                    labels.Forget(gone.DestinationId);
                }
            }
        }
    }
}
