using System.Collections.Concurrent;
using Mesh.Gateway.Routing;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Mesh.Gateway.Health;

/// <summary>
/// Passive health that counts what YARP's built-in policy ignores: 5xx answers and timeouts, besides transport errors.
/// After <c>ConsecutiveFailures</c> in a row a backend is ejected for the reactivation period; any success resets the count.
/// A request the client cancelled says nothing about the backend.
/// </summary>
public sealed class ServerErrorsPolicy(IDestinationHealthUpdater updater, IOptionsMonitor<PassiveHealthOptions> options) : IPassiveHealthCheckPolicy
{
    private readonly ConcurrentDictionary<DestinationState, int> _consecutiveFailures = new();

    public string Name => FleetProxyConfigProvider.PassiveHealthPolicy;

    /// <summary>Errors that are the backend's doing: it refused, timed out, or broke its answer.</summary>
    public static bool IsBackendFault(ForwarderError error) =>
        error is ForwarderError.Request or ForwarderError.RequestTimedOut or ForwarderError.ResponseHeaders or ForwarderError.ResponseBodyDestination;

    public void RequestProxied(HttpContext context, ClusterState cluster, DestinationState destination)
    {
        var error = context.GetForwarderErrorFeature()?.Error;
        if (error is not null && !IsBackendFault(error.Value))
        {
            // The client cancelled or broke its side; that says nothing about the backend.
            return;
        }

        var failed = error is not null || context.Response.StatusCode >= StatusCodes.Status500InternalServerError;
        if (!failed)
        {
            _consecutiveFailures[destination] = 0;
            return;
        }

        var settings = options.CurrentValue;
        var failures = _consecutiveFailures.AddOrUpdate(destination, 1, (_, count) => count + 1);
        if (failures >= settings.ConsecutiveFailures)
        {
            _consecutiveFailures[destination] = 0;
            updater.SetPassive(cluster, destination, DestinationHealth.Unhealthy, TimeSpan.FromSeconds(settings.ReactivationSeconds));
            GatewayMetrics.Ejections.WithLabels(destination.DestinationId, cluster.ClusterId).Inc();
        }
    }
}
