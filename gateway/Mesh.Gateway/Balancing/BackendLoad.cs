using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Mesh.Gateway.Routing;

namespace Mesh.Gateway.Balancing;

/// <summary>
/// The load each backend last reported in <c>X-Mesh-Load</c> (requests in flight plus sentences queued), from its
/// proxied responses and its <c>/readyz</c> probes. A report older than <see cref="MaxAge"/> no longer counts. Only
/// backends the proxy has are kept: a report from one already removed is dropped, so its series does not come back.
/// </summary>
public sealed class BackendLoad(BackendLabels labels)
{
    public const string Header = "X-Mesh-Load";
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(5);

    // Read on every balancing decision without a lock; changed under the lock, so a report cannot outlive Forget.
    private readonly ConcurrentDictionary<string, (int Load, long At)> _reports = new(StringComparer.Ordinal);
    private readonly Lock _changing = new();

    /// <summary>Starts keeping reports of a backend the proxy now has; until its first, its load reads 0.</summary>
    public void Track(string destinationId)
    {
        lock (_changing)
        {
            _reports.TryAdd(destinationId, (0, 0));
        }
    }

    /// <summary>Drops a backend the proxy no longer has, and its series.</summary>
    public void Forget(string destinationId)
    {
        lock (_changing)
        {
            _reports.TryRemove(destinationId, out _);
            labels.Write(destinationId, label => GatewayMetrics.BackendLoad.RemoveLabelled(label));
        }
    }

    public void Report(string destinationId, string? headerValue)
    {
        if (!int.TryParse(headerValue, NumberStyles.None, CultureInfo.InvariantCulture, out var load))
        {
            return;
        }

        lock (_changing)
        {
            if (_reports.ContainsKey(destinationId))
            {
                _reports[destinationId] = (load, Stopwatch.GetTimestamp());
                labels.Write(destinationId, label => GatewayMetrics.BackendLoad.WithLabels(label).Set(load));
            }
        }
    }

    public int Reported(string destinationId) =>
        _reports.TryGetValue(destinationId, out var report) && Stopwatch.GetElapsedTime(report.At) < MaxAge ? report.Load : 0;
}
