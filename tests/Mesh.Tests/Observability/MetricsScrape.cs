using System.Text.RegularExpressions;

namespace Mesh.Tests.Observability;

/// <param name="Type">As declared by <c># TYPE</c>: counter, gauge, histogram, summary.</param>
/// <param name="LabelSets">The label names of each sample, <c>le</c> of histogram buckets left out.</param>
public sealed record MetricFamily(string Name, string Type, IReadOnlyList<IReadOnlySet<string>> LabelSets);

/// <summary>One <c>/metrics</c> answer in Prometheus text format, grouped into families.</summary>
public sealed partial class MetricsScrape
{
    private readonly Dictionary<string, double> _totals;

    private MetricsScrape(IReadOnlyDictionary<string, MetricFamily> families, Dictionary<string, double> totals)
    {
        Families = families;
        _totals = totals;
    }

    public IReadOnlyDictionary<string, MetricFamily> Families { get; }

    /// <summary>The sum of every sample named <paramref name="sample"/> (e.g. a histogram's <c>_count</c>) over all its label sets; 0 when absent.</summary>
    public double Total(string sample) => _totals.GetValueOrDefault(sample);

    public static MetricsScrape Parse(string text)
    {
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var labelSets = new Dictionary<string, List<IReadOnlySet<string>>>(StringComparer.Ordinal);
        var totals = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (TypeLine().Match(line) is { Success: true } type)
            {
                types[type.Groups[1].Value] = type.Groups[2].Value;
                labelSets[type.Groups[1].Value] = [];
                continue;
            }

            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var sample = SampleLine().Match(line);
            var name = sample.Groups[1].Value;
            if (double.TryParse(sample.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture, out var value))
            {
                totals[name] = totals.GetValueOrDefault(name) + value;
            }
            var family = types.ContainsKey(name) ? name : HistogramSuffix().Replace(name, "");
            var labels = LabelName().Matches(sample.Groups[2].Value).Select(m => m.Groups[1].Value).Where(l => l != "le");
            labelSets[family].Add(labels.ToHashSet(StringComparer.Ordinal));
        }

        return new MetricsScrape(types.ToDictionary(t => t.Key, t => new MetricFamily(t.Key, t.Value, labelSets[t.Key]), StringComparer.Ordinal), totals);
    }

    [GeneratedRegex(@"^# TYPE (\S+) (\S+)$")]
    private static partial Regex TypeLine();

    [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s(\S+)")]
    private static partial Regex SampleLine();

    [GeneratedRegex("_(bucket|sum|count)$")]
    private static partial Regex HistogramSuffix();

    [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)=""")]
    private static partial Regex LabelName();
}
