using System.Text.RegularExpressions;
using Mesh.Tests.Integration;

namespace Mesh.Tests.Observability;

public enum MetricSource
{
    Gateway,
    Backend,

    /// <summary>Exported only by the ONNX or GPU engine, never by the CPU fleet the tests run.</summary>
    EngineOnly,
}

public sealed record CatalogueEntry(string Name, string Type, IReadOnlySet<string> Labels, MetricSource Source);

public sealed record SeriesGroup(string Prefix, bool Always);

/// <summary>The tables of <c>docs/metrics.md</c>: series per process, engine-only series, and runtime series groups.</summary>
public sealed partial class MetricCatalogue
{
    private MetricCatalogue(IReadOnlyList<CatalogueEntry> entries, IReadOnlyList<SeriesGroup> groups)
    {
        Entries = entries;
        Groups = groups;
    }

    public IReadOnlyList<CatalogueEntry> Entries { get; }

    public IReadOnlyList<SeriesGroup> Groups { get; }

    public IEnumerable<string> EngineOnlyNames => Entries.Where(e => e.Source == MetricSource.EngineOnly).Select(e => e.Name);

    public static MetricCatalogue Load()
    {
        var entries = new List<CatalogueEntry>();
        var groups = new List<SeriesGroup>();
        MetricSource? source = null;
        var inGroups = false;
        foreach (var line in File.ReadLines(Path.Combine(RepoPaths.Root, "docs/metrics.md")))
        {
            if (line.StartsWith("## ", StringComparison.Ordinal))
            {
                source = line switch
                {
                    _ when line.StartsWith("## Gateway (", StringComparison.Ordinal) => MetricSource.Gateway,
                    _ when line.StartsWith("## Backend (", StringComparison.Ordinal) => MetricSource.Backend,
                    _ when line.StartsWith("## Engine only", StringComparison.Ordinal) => MetricSource.EngineOnly,
                    _ => null,
                };
                inGroups = line.StartsWith("## Runtime and library series", StringComparison.Ordinal);
                continue;
            }

            var cells = Cells(line);
            if (cells is null || !cells[0].StartsWith('`'))
            {
                continue;
            }

            if (source is { } s)
            {
                var labels = Code().Matches(cells[3]).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
                entries.Add(new CatalogueEntry(cells[0].Trim('`'), cells[1], labels, s));
            }
            else if (inGroups)
            {
                groups.Add(new SeriesGroup(cells[0].Trim('`'), cells[2] == "always"));
            }
        }

        return new MetricCatalogue(entries, groups);
    }

    public IEnumerable<CatalogueEntry> Of(MetricSource source) => Entries.Where(e => e.Source == source);

    public bool IsRuntimeSeries(string name) => Groups.Any(g => name.StartsWith(g.Prefix, StringComparison.Ordinal));

    private static string[]? Cells(string line) =>
        line.StartsWith('|') && !line.StartsWith("|---", StringComparison.Ordinal)
            ? [.. line.Trim().Trim('|').Split('|').Select(c => c.Trim())]
            : null;

    [GeneratedRegex("`([a-z_]+)`")]
    private static partial Regex Code();
}
