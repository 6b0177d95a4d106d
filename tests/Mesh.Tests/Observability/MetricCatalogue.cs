using System.Text.RegularExpressions;
using Mesh.Tests.Integration;

namespace Mesh.Tests.Observability;

public enum MetricSource
{
    Gateway,
    Backend,

    /// <summary>Exported by a backend serving an ONNX model, on either provider, besides the backend series.</summary>
    OnnxEngine,

    /// <summary>Exported only on the CUDA provider, never by the CPU fleet the tests run.</summary>
    GpuEngine,
}

public sealed record CatalogueEntry(string Name, string Type, IReadOnlySet<string> Labels, MetricSource Source);

public sealed record SeriesGroup(string Prefix, bool Always);

/// <summary>A panel the catalogue proposes for a section's series (a bullet <c>- Title: `query`</c>), not in a dashboard.</summary>
public sealed record PanelToAdd(string Title, string Expression, MetricSource Source);

/// <summary>The tables of <c>docs/metrics.md</c>: series per process, the engines' series, and runtime series groups.</summary>
public sealed partial class MetricCatalogue
{
    private MetricCatalogue(IReadOnlyList<CatalogueEntry> entries, IReadOnlyList<SeriesGroup> groups, IReadOnlyList<PanelToAdd> panelsToAdd)
    {
        Entries = entries;
        Groups = groups;
        PanelsToAdd = panelsToAdd;
    }

    public IReadOnlyList<CatalogueEntry> Entries { get; }

    public IReadOnlyList<SeriesGroup> Groups { get; }

    public IReadOnlyList<PanelToAdd> PanelsToAdd { get; }

    public IEnumerable<string> NamesOf(MetricSource source) => Of(source).Select(e => e.Name);

    public static MetricCatalogue Load()
    {
        var entries = new List<CatalogueEntry>();
        var groups = new List<SeriesGroup>();
        var panels = new List<PanelToAdd>();
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
                    _ when line.StartsWith("## ONNX engine", StringComparison.Ordinal) => MetricSource.OnnxEngine,
                    _ when line.StartsWith("## GPU engine only", StringComparison.Ordinal) => MetricSource.GpuEngine,
                    _ => null,
                };
                inGroups = line.StartsWith("## Runtime and library series", StringComparison.Ordinal);
                continue;
            }

            if (source is { } section && PanelBullet().Match(line) is { Success: true } panel)
            {
                panels.Add(new PanelToAdd(panel.Groups[1].Value, panel.Groups[2].Value, section));
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

        return new MetricCatalogue(entries, groups, panels);
    }

    public IEnumerable<CatalogueEntry> Of(MetricSource source) => Entries.Where(e => e.Source == source);

    public bool IsRuntimeSeries(string name) => Groups.Any(g => name.StartsWith(g.Prefix, StringComparison.Ordinal));

    private static string[]? Cells(string line) =>
        line.StartsWith('|') && !line.StartsWith("|---", StringComparison.Ordinal)
            ? [.. line.Trim().Trim('|').Split('|').Select(c => c.Trim())]
            : null;

    [GeneratedRegex("`([a-z_]+)`")]
    private static partial Regex Code();

    // "- Title (may hold `code`): `query`", the query being the line's last code span.
    [GeneratedRegex(@"^- (.+?): `([^`]+)`\S*$")]
    private static partial Regex PanelBullet();
}
