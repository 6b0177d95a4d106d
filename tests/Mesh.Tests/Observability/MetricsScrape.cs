using System.Text.RegularExpressions;

namespace Mesh.Tests.Observability;

/// <param name="Type">As declared by <c># TYPE</c>: counter, gauge, histogram, summary.</param>
/// <param name="LabelSets">The label names of each sample, <c>le</c> of histogram buckets left out.</param>
public sealed record MetricFamily(string Name, string Type, IReadOnlyList<IReadOnlySet<string>> LabelSets);

/// <summary>One <c>/metrics</c> answer in Prometheus text format, grouped into families.</summary>
public sealed partial class MetricsScrape
{
    private MetricsScrape(IReadOnlyDictionary<string, MetricFamily> families) => Families = families;

    public IReadOnlyDictionary<string, MetricFamily> Families { get; }

    public static MetricsScrape Parse(string text)
    {
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var labelSets = new Dictionary<string, List<IReadOnlySet<string>>>(StringComparer.Ordinal);
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
            var family = types.ContainsKey(name) ? name : HistogramSuffix().Replace(name, "");
            var labels = LabelName().Matches(sample.Groups[2].Value).Select(m => m.Groups[1].Value).Where(l => l != "le");
            labelSets[family].Add(labels.ToHashSet(StringComparer.Ordinal));
        }

        return new MetricsScrape(types.ToDictionary(t => t.Key, t => new MetricFamily(t.Key, t.Value, labelSets[t.Key]), StringComparer.Ordinal));
    }

    [GeneratedRegex(@"^# TYPE (\S+) (\S+)$")]
    private static partial Regex TypeLine();

    [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s")]
    private static partial Regex SampleLine();

    [GeneratedRegex("_(bucket|sum|count)$")]
    private static partial Regex HistogramSuffix();

    [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)=""")]
    private static partial Regex LabelName();
}
