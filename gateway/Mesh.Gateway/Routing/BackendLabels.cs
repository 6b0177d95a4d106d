using System.Collections.Concurrent;
using Prometheus;

namespace Mesh.Gateway.Routing;

/// <summary>
/// The <c>backend</c> label of the gateway's per-backend series (<c>mesh_backend_healthy</c>, <c>mesh_backend_load</c>,
/// <c>mesh_backend_ejections_total</c>): the name the backend reports in <c>X-Mesh-Backend</c>, which is also the
/// <c>backend</c> label of its own series. A discovered backend is known to the gateway only by its address (its
/// destination is <c>entry/address</c>), while its own series carry its name (the pod's, on Kubernetes); labelled by
/// name, the two sides join and one dashboard selection shows both. Until the first probe answers, or while another
/// backend already has that name, a backend is labelled with its destination id.
/// </summary>
public sealed class BackendLabels
{
    private readonly Lock _changing = new();
    private readonly ConcurrentDictionary<string, string> _names = new(StringComparer.Ordinal);

    public string Of(string destinationId) => _names.GetValueOrDefault(destinationId) ?? destinationId;

    /// <summary>
    /// Writes a backend's series under its label, never while <see cref="Learn"/> moves them: a write between reading
    /// the old label and the move would bring back a series under the old label that nothing removes.
    /// </summary>
    public void Write(string destinationId, Action<string> write)
    {
        lock (_changing)
        {
            write(Of(destinationId));
        }
    }

    /// <summary>Labels a backend with the name it reported from now on, moving the series it already has.</summary>
    public void Learn(string destinationId, string? reported)
    {
        if (string.IsNullOrEmpty(reported))
        {
            return;
        }

        lock (_changing)
        {
            if (_names.Any(other => other.Key != destinationId && other.Value == reported))
            {
                return;
            }

            var current = Of(destinationId);
            _names[destinationId] = reported;
            if (current == reported)
            {
                return;
            }

            foreach (var series in new[] { GatewayMetrics.BackendHealthy, GatewayMetrics.BackendLoad })
            {
                Move(series, current, reported, (from, to) => to.Set(from.Value));
            }

            Move(GatewayMetrics.Ejections, current, reported, (from, to) => to.IncTo(from.Value));
        }
    }

    /// <summary>Drops a backend the proxy no longer has: its label is free for another.</summary>
    public void Forget(string destinationId)
    {
        lock (_changing)
        {
            _names.TryRemove(destinationId, out _);
        }
    }

    /// <summary>Each series of <paramref name="collector"/> labelled <paramref name="from"/> (first label) is relabelled <paramref name="to"/>.</summary>
    private static void Move<TChild>(Collector<TChild> collector, string from, string to, Action<TChild, TChild> copy)
        where TChild : ChildBase
    {
        foreach (var labels in collector.GetAllLabelValues().Where(labels => labels[0] == from).ToArray())
        {
            copy(collector.WithLabels(labels), collector.WithLabels([to, .. labels[1..]]));
            collector.RemoveLabelled(labels);
        }
    }
}
