using System.Text.Json;
using System.Text.RegularExpressions;
using Mesh.Tests.Integration;

namespace Mesh.Tests.Observability;

public sealed record GridPosition(int X, int Y, int Width, int Height);

/// <param name="Instant">An instant query (a bar gauge of current values) rather than a range.</param>
public sealed record PanelTarget(string RefId, string Expression, string Legend, bool Instant);

/// <param name="Min">The panel's fixed axis minimum, if any (likewise <paramref name="Max"/>).</param>
public sealed record DashboardPanel(
    int Id, string Title, string Type, string Unit, GridPosition Grid, IReadOnlyList<PanelTarget> Targets, IReadOnlyList<double> ThresholdLines, double? Min, double? Max);

public sealed record TemplateVariable(string Name, string Query);

/// <summary>A Grafana dashboard of <c>ops/grafana/dashboards/</c>, and how its queries read with template variables filled in.</summary>
public sealed partial record DashboardFile(string FileName, string Uid, string Title, IReadOnlyList<DashboardPanel> Panels, IReadOnlyList<TemplateVariable> Variables)
{
    /// <summary>What the test fills in for Grafana's built-in variables: a rate window of several 1 s scrapes.</summary>
    public const string RateInterval = "10s";

    public static IReadOnlyList<DashboardFile> LoadAll() =>
        [.. Directory.GetFiles(Path.Combine(RepoPaths.Root, "ops/grafana/dashboards"), "*.json").Order(StringComparer.Ordinal).Select(Load)];

    public static DashboardFile Load(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        var root = document.RootElement;
        var panels = root.GetProperty("panels").EnumerateArray().Select(panel =>
        {
            var grid = panel.GetProperty("gridPos");
            var defaults = panel.GetProperty("fieldConfig").GetProperty("defaults");
            var thresholds = defaults.TryGetProperty("custom", out var custom) &&
                custom.TryGetProperty("thresholdsStyle", out var style) && style.GetProperty("mode").GetString() == "line"
                    ? defaults.GetProperty("thresholds").GetProperty("steps").EnumerateArray()
                        .Where(s => s.GetProperty("value").ValueKind == JsonValueKind.Number).Select(s => s.GetProperty("value").GetDouble()).ToArray()
                    : [];
            return new DashboardPanel(
                panel.GetProperty("id").GetInt32(),
                panel.GetProperty("title").GetString()!,
                panel.GetProperty("type").GetString()!,
                defaults.TryGetProperty("unit", out var unit) ? unit.GetString()! : "short",
                new GridPosition(grid.GetProperty("x").GetInt32(), grid.GetProperty("y").GetInt32(), grid.GetProperty("w").GetInt32(), grid.GetProperty("h").GetInt32()),
                [.. panel.GetProperty("targets").EnumerateArray().Select(t => new PanelTarget(
                    t.GetProperty("refId").GetString()!,
                    t.GetProperty("expr").GetString()!,
                    t.TryGetProperty("legendFormat", out var legend) ? legend.GetString()! : "",
                    t.TryGetProperty("instant", out var instant) && instant.GetBoolean()))],
                thresholds,
                defaults.TryGetProperty("min", out var min) ? min.GetDouble() : null,
                defaults.TryGetProperty("max", out var max) ? max.GetDouble() : null);
        });
        var variables = root.GetProperty("templating").GetProperty("list").EnumerateArray()
            .Select(v => new TemplateVariable(v.GetProperty("name").GetString()!, v.GetProperty("query").GetProperty("query").GetString()!));
        return new DashboardFile(Path.GetFileName(path), root.GetProperty("uid").GetString()!, root.GetProperty("title").GetString()!, [.. panels], [.. variables]);
    }

    /// <summary>
    /// The expression as Grafana would send it with every template variable on "All" (<c>.*</c>, the dashboards'
    /// allValue) and the rate interval fixed.
    /// </summary>
    public static string Expand(string expression) =>
        Variable().Replace(expression, match => match.Groups[1].Value switch
        {
            "__rate_interval" or "__interval" => RateInterval,
            _ => ".*",
        });

    /// <summary>Grafana's <c>label_values(selector, label)</c> as the selector and the label.</summary>
    public static (string Selector, string Label) LabelValuesQuery(string query)
    {
        var match = LabelValues().Match(query);
        return match.Success ? (Expand(match.Groups[1].Value), match.Groups[2].Value) : throw new FormatException("not a label_values query: " + query);
    }

    /// <summary>Fills <c>{{label}}</c> of a legend from a series' labels.</summary>
    public static string Legend(string format, IReadOnlyDictionary<string, string> labels) =>
        LegendLabel().Replace(format, m => labels.TryGetValue(m.Groups[1].Value, out var value) ? value : "");

    [GeneratedRegex(@"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")]
    private static partial Regex Variable();

    [GeneratedRegex(@"^label_values\((.*),\s*([a-z_]+)\)$")]
    private static partial Regex LabelValues();

    [GeneratedRegex(@"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")]
    private static partial Regex LegendLabel();
}
