using System.Globalization;

namespace Mesh.Tests.Integration;

/// <summary>Reads values out of a Prometheus text exposition (a <c>/metrics</c> answer).</summary>
public static class MetricsText
{
    /// <summary>The sum of the samples whose line starts with <paramref name="prefix"/> and contains <paramref name="label"/>.</summary>
    public static double Sum(string metrics, string prefix, string label = "") =>
        metrics.Split('\n')
            .Where(line => line.StartsWith(prefix, StringComparison.Ordinal) && line.Contains(label, StringComparison.Ordinal))
            .Sum(line => double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
}
