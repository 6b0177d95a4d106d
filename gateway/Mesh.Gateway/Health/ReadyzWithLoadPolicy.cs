using Mesh.Contracts;
using Mesh.Gateway.Balancing;
using Mesh.Gateway.Routing;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Mesh.Gateway.Health;

/// <summary>
/// Active health from <c>/readyz</c>: a backend is healthy while it answers 2xx and unhealthy from its first failed
/// probe (a backend that is not ready must not get traffic). Each probe also carries the backend's load and name, and
/// tells <see cref="UnresponsiveBackends"/> whether the backend answered at all. A backend that turns unhealthy is
/// logged once, on one line with the reason; YARP's own warning for every failed probe, with the exception's stack
/// trace, is filtered out in <c>appsettings.json</c>, as a crash-looping backend would flood the log with it.
/// </summary>
public sealed partial class ReadyzWithLoadPolicy(
    IDestinationHealthUpdater updater,
    BackendLoad load,
    CurrentBackends backends,
    BackendLabels labels,
    UnresponsiveBackends unresponsive,
    ILogger<ReadyzWithLoadPolicy> logger) : IActiveHealthCheckPolicy
{
    public string Name => FleetProxyConfigProvider.ActiveHealthPolicy;

    public void ProbingCompleted(ClusterState cluster, IReadOnlyList<DestinationProbingResult> probingResults)
    {
        var updates = new List<NewActiveDestinationHealth>(probingResults.Count);
        // A probe sent before its backend was removed may come back after: recording it would bring back its series.
        foreach (var result in probingResults.Where(r => backends.ClusterOf(r.Destination) is not null))
        {
            var destinationId = result.Destination.DestinationId;
            var healthy = result.Response is { IsSuccessStatusCode: true };
            unresponsive.Probed(result.Destination, UnresponsiveBackends.Answered(result.Exception));
            if (result.Response?.Headers.TryGetValues(MeshHeaders.Backend, out var names) == true)
            {
                labels.Learn(destinationId, names.FirstOrDefault());
            }

            if (result.Response?.Headers.TryGetValues(BackendLoad.Header, out var values) == true)
            {
                load.Report(destinationId, values.FirstOrDefault());
            }

            if (!healthy && result.Destination.Health.Active != DestinationHealth.Unhealthy)
            {
                var backend = labels.Of(destinationId);
                var address = result.Destination.Model.Config.Address;
                var reason = result.Exception?.Message ?? $"/readyz answered {(int?)result.Response?.StatusCode}";
                // One that was serving and stopped is news; one not yet seen ready (starting, loading its model) is not.
                if (result.Destination.Health.Active == DestinationHealth.Healthy)
                {
                    LogTurnedUnhealthy(backend, address, reason);
                }
                else
                {
                    LogNotReadyYet(backend, address, reason);
                }
            }

            updates.Add(new NewActiveDestinationHealth(result.Destination, healthy ? DestinationHealth.Healthy : DestinationHealth.Unhealthy));
            labels.Write(destinationId, label =>
            {
                GatewayMetrics.BackendHealthy.WithLabels(label, cluster.ClusterId).Set(healthy ? 1 : 0);
                // The ejection rate then reads 0 rather than no data until the backend's first ejection.
                GatewayMetrics.Ejections.WithLabels(label, cluster.ClusterId).Publish();
            });
        }

        updater.SetActive(cluster, updates);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Backend {Backend} at {Address} failed its readiness probe ({Reason}); it gets no traffic until a probe succeeds")]
    private partial void LogTurnedUnhealthy(string backend, string address, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Backend {Backend} at {Address} is not ready ({Reason}); it gets traffic once a probe succeeds")]
    private partial void LogNotReadyYet(string backend, string address, string reason);
}
