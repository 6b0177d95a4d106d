using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Mesh.Gateway.Balancing;

/// <summary>
/// The load each backend last reported in <c>X-Mesh-Load</c> (requests in flight plus sentences queued), from its
/// proxied responses and its <c>/readyz</c> probes. A report older than <see cref="MaxAge"/> no longer counts.
/// </summary>
public sealed class BackendLoad
{
    public const string Header = "X-Mesh-Load";
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, (int Load, long At)> _reports = new(StringComparer.Ordinal);

    public void Report(string destinationId, string? headerValue)
    {
        if (int.TryParse(headerValue, NumberStyles.None, CultureInfo.InvariantCulture, out var load))
        {
            _reports[destinationId] = (load, Stopwatch.GetTimestamp());
            GatewayMetrics.BackendLoad.WithLabels(destinationId).Set(load);
        }
    }

    public int Reported(string destinationId) =>
        _reports.TryGetValue(destinationId, out var report) && Stopwatch.GetElapsedTime(report.At) < MaxAge ? report.Load : 0;
}
