using System.Runtime.CompilerServices;
using Mesh.Gateway.Routing;
using Mesh.Gateway.Streaming;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Mesh.Gateway.Health;

/// <summary>
/// Passive health that counts what YARP's built-in policy ignores: 5xx answers and timeouts, besides transport errors,
/// and an SSE stream its backend ended with a 5xx <c>error</c> event after its first byte, as it counts a 5xx answer.
/// After <c>ConsecutiveFailures</c> in a row a backend is ejected for the reactivation period; any success resets the count.
/// A request the client cancelled says nothing about the backend, nor does one that ends after its backend was removed.
/// </summary>
public sealed class ServerErrorsPolicy(
    IDestinationHealthUpdater updater, IOptionsMonitor<PassiveHealthOptions> options, CurrentBackends backends, BackendLabels labels,
    EjectedBackends ejected) : IPassiveHealthCheckPolicy
{
    // Weak keys: a backend's count goes with YARP's state of it when a reload removes it.
    private readonly ConditionalWeakTable<DestinationState, StrongBox<int>> _consecutiveFailures = new();

    public string Name => FleetProxyConfigProvider.PassiveHealthPolicy;

    /// <summary>Errors that are the backend's doing: it refused, timed out, or broke its answer.</summary>
    public static bool IsBackendFault(ForwarderError error) =>
        error is ForwarderError.Request or ForwarderError.RequestTimedOut or ForwarderError.ResponseHeaders or ForwarderError.ResponseBodyDestination;

    /// <param name="cluster">The route's cluster: not the destination's when routing moved the request to its variant's.</param>
    public void RequestProxied(HttpContext context, ClusterState cluster, DestinationState destination)
    {
        var error = context.GetForwarderErrorFeature()?.Error;
        if (error is not null && !IsBackendFault(error.Value))
        {
            // The client cancelled or broke its side; that says nothing about the backend.
            return;
        }

        if (backends.ClusterOf(destination) is not { } destinationCluster)
        {
            // Removed while this request was on it: counting it would bring back the series the removal dropped.
            return;
        }

        var count = _consecutiveFailures.GetValue(destination, _ => new StrongBox<int>());
        // A stream that failed after its 200 went out is the backend's failure too, whether it broke it or said so.
        var failed = error is not null
            || context.Response.StatusCode >= StatusCodes.Status500InternalServerError
            || StreamEndMiddleware.FailureStatus(context) >= StatusCodes.Status500InternalServerError;
        if (!failed)
        {
            Interlocked.Exchange(ref count.Value, 0);
            return;
        }

        var settings = options.CurrentValue;
        if (Interlocked.Increment(ref count.Value) >= settings.ConsecutiveFailures)
        {
            Interlocked.Exchange(ref count.Value, 0);
            // YARP ignores an ejection of a backend already out, keeping its first reactivation time; so does the note.
            var alreadyEjected = destination.Health.Passive == DestinationHealth.Unhealthy;
            var reactivation = TimeSpan.FromSeconds(settings.ReactivationSeconds);
            updater.SetPassive(destinationCluster, destination, DestinationHealth.Unhealthy, reactivation);
            if (!alreadyEjected)
            {
                // Noted after YARP scheduled the reactivation, so the wait advised never ends before it. Counted only
                // here: a failure of a request already on a backend that is out takes nothing out of rotation.
                ejected.Ejected(destination, reactivation);
                labels.Write(destination.DestinationId, label => GatewayMetrics.Ejections.WithLabels(label, destinationCluster.ClusterId).Inc());
            }
        }
    }
}
