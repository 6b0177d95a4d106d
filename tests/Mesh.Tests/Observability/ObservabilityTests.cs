using System.Globalization;
using System.Text.Json;
using Mesh.Tests.Integration;

namespace Mesh.Tests.Observability;

/// <summary>
/// The metric catalogue, the dashboards and the rules against a real fleet and a real Prometheus. The fleet runs on
/// CPU, one backend with the built-in espeak voice and one with an ONNX model, so the ONNX engine's series are
/// expected from the second only, and the GPU engine's from neither: rules that read those must still parse and
/// evaluate, and dashboards must not read them.
/// </summary>
public sealed class ObservabilityTests(ObservedFleet fleet) : IClassFixture<ObservedFleet>
{
    private static readonly MetricCatalogue Catalogue = MetricCatalogue.Load();

    [Fact]
    public void Catalogue_matches_what_the_gateway_and_backends_export()
    {
        var problems = new List<string>();
        Compare("gateway", fleet.GatewayScrape, [MetricSource.Gateway], problems);
        Compare("espeak backend", fleet.EspeakBackendScrape, [MetricSource.Backend], problems);
        Compare("ONNX backend", fleet.OnnxBackendScrape, [MetricSource.Backend, MetricSource.OnnxEngine], problems);

        Assert.True(problems.Count == 0, "docs/metrics.md and /metrics disagree:\n" + string.Join('\n', problems.Distinct()));
    }

    [Fact]
    public async Task Every_dashboard_panel_and_variable_returns_data()
    {
        var problems = new List<string>();
        foreach (var dashboard in DashboardFile.LoadAll())
        {
            foreach (var variable in dashboard.Variables)
            {
                var (selector, label) = DashboardFile.LabelValuesQuery(variable.Query);
                var values = await fleet.Prometheus.GetDataAsync(
                    $"/api/v1/label/{label}/values?match[]={Uri.EscapeDataString(selector)}&start={fleet.Start.ToUnixTimeSeconds()}&end={fleet.End.ToUnixTimeSeconds()}");
                if (values.GetArrayLength() == 0)
                {
                    problems.Add($"{dashboard.FileName}: variable {variable.Name} has no values: {variable.Query}");
                }
            }

            foreach (var panel in dashboard.Panels)
            {
                foreach (var target in panel.Targets)
                {
                    try
                    {
                        var series = await QueryAsync(target);
                        if (!series.Any(s => s.Points.Any(p => double.IsFinite(p.Value))))
                        {
                            problems.Add($"{dashboard.FileName} \"{panel.Title}\" {target.RefId}: no data: {DashboardFile.Expand(target.Expression)}");
                        }
                    }
                    catch (PrometheusQueryException e)
                    {
                        problems.Add($"{dashboard.FileName} \"{panel.Title}\" {target.RefId}: {e.Message}");
                    }
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    /// <summary>
    /// The panels docs/metrics.md proposes for the ONNX engine's series (no dashboard reads them, see
    /// <see cref="PrometheusFilesTests"/>) work: each returns data from the ONNX backend's variant, and from it only.
    /// </summary>
    [Fact]
    public async Task The_onnx_engine_panels_the_catalogue_proposes_return_the_onnx_backends_data()
    {
        var panels = Catalogue.PanelsToAdd.Where(p => p.Source == MetricSource.OnnxEngine).ToArray();
        Assert.Equal(3, panels.Length);

        foreach (var panel in panels)
        {
            var series = await QueryAsync(new PanelTarget("A", panel.Expression, "{{variant}}", Instant: false));
            Assert.True(series.Any(s => s.Points.Any(p => double.IsFinite(p.Value))), $"\"{panel.Title}\": no data: {DashboardFile.Expand(panel.Expression)}");
            Assert.All(series, s => Assert.Equal("b", s.Legend));
        }
    }

    [Fact]
    public async Task Every_rule_loads_healthy_and_reads_series_the_fleet_exports()
    {
        var rules = RuleFiles.Load();
        var loaded = (await fleet.Prometheus.GetDataAsync("/api/v1/rules")).GetProperty("groups").EnumerateArray()
            .SelectMany(g => g.GetProperty("rules").EnumerateArray())
            .ToDictionary(r => r.GetProperty("name").GetString()!, r => r.GetProperty("health").GetString() + (r.TryGetProperty("lastError", out var error) ? " " + error : ""));
        var gpuOnly = Catalogue.NamesOf(MetricSource.GpuEngine).ToHashSet(StringComparer.Ordinal);
        var onnxEngine = Catalogue.NamesOf(MetricSource.OnnxEngine).ToHashSet(StringComparer.Ordinal);
        var problems = new List<string>();

        foreach (var rule in rules)
        {
            if (!loaded.TryGetValue(rule.Name, out var health) || !health.StartsWith("ok", StringComparison.Ordinal))
            {
                problems.Add($"{rule.Name}: not loaded healthy ({health ?? "missing"})");
            }

            // The whole expression must evaluate; an alert's may be empty (nothing fires), a recording rule's may not.
            try
            {
                var result = (await fleet.Prometheus.QueryRangeAsync(rule.Expression, fleet.Start, fleet.End, TimeSpan.FromSeconds(1))).GetProperty("result");
                if (!rule.IsAlert && !HasFiniteValue(result))
                {
                    problems.Add($"{rule.Name}: no data over the test run");
                }
            }
            catch (PrometheusQueryException e)
            {
                problems.Add($"{rule.Name}: {e.Message}");
                continue;
            }

            foreach (var selector in RuleFiles.Selectors(rule.Expression))
            {
                var name = RuleFiles.NameOf(selector);
                var family = RuleFiles.FamilyOf(name);
                var count = await CountAsync(selector);
                if (gpuOnly.Contains(family) && count > 0)
                {
                    problems.Add($"{rule.Name}: {selector} is documented as GPU engine only but the CPU fleet exports it");
                }
                else if (onnxEngine.Contains(family))
                {
                    // The ONNX backend runs on the CPU provider, eagerly: a selector on fallback or graphs rightly
                    // matches none of its series, but the series itself must be there.
                    if (await CountAsync($"{name}{{job=\"mesh-backend\"}}") == 0)
                    {
                        problems.Add($"{rule.Name}: {name} is not exported by the fleet's ONNX backend");
                    }
                }
                else if (!gpuOnly.Contains(family) && count == 0)
                {
                    problems.Add($"{rule.Name}: {selector} selects no series");
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public async Task Each_dashboard_renders_to_a_png_of_its_panels_over_the_test_run()
    {
        var directory = Path.Combine(RepoPaths.Root, "artifacts", "dashboards");
        foreach (var dashboard in DashboardFile.LoadAll())
        {
            var panels = new List<PanelData>();
            foreach (var panel in dashboard.Panels)
            {
                var series = new List<SeriesData>();
                foreach (var target in panel.Targets)
                {
                    series.AddRange(await QueryAsync(target));
                }

                panels.Add(new PanelData(panel, series));
            }

            var path = Path.Combine(directory, Path.ChangeExtension(dashboard.FileName, ".png"));
            var subtitle = string.Create(
                CultureInfo.InvariantCulture,
                $"Prometheus query results over a {(fleet.End - fleet.Start).TotalSeconds:0} s test run (scrape 1 s, rate window {DashboardFile.RateInterval}, every variable = All); {dashboard.FileName}");
            DashboardRenderer.RenderPng(dashboard, panels, subtitle, path);

            Assert.True(new FileInfo(path).Length > 10_000, $"{path} is suspiciously small");
        }
    }

    /// <summary>One panel target as Grafana would run it: a range query over the test run, or an instant query at its end.</summary>
    private async Task<IReadOnlyList<SeriesData>> QueryAsync(PanelTarget target)
    {
        var expression = DashboardFile.Expand(target.Expression);
        var data = target.Instant
            ? await fleet.Prometheus.QueryAsync(expression, fleet.End)
            : await fleet.Prometheus.QueryRangeAsync(expression, fleet.Start, fleet.End, TimeSpan.FromSeconds(1));
        return [.. data.GetProperty("result").EnumerateArray().Select(series =>
        {
            var labels = series.GetProperty("metric").EnumerateObject().ToDictionary(l => l.Name, l => l.Value.GetString()!);
            var samples = target.Instant ? [series.GetProperty("value")] : series.GetProperty("values").EnumerateArray().ToArray();
            return new SeriesData(
                DashboardFile.Legend(target.Legend, labels),
                [.. samples.Select(s => (s[0].GetDouble() - fleet.Start.ToUnixTimeMilliseconds() / 1000.0, ParseValue(s[1])))]);
        })];
    }

    private async Task<int> CountAsync(string selector) =>
        (await fleet.Prometheus.QueryAsync($"count({selector})", fleet.End)).GetProperty("result").GetArrayLength();

    private static bool HasFiniteValue(JsonElement result) =>
        result.EnumerateArray().Any(s => s.GetProperty("values").EnumerateArray().Any(v => double.IsFinite(ParseValue(v[1]))));

    private static double ParseValue(JsonElement value) => double.Parse(value.GetString()!, CultureInfo.InvariantCulture);

    /// <summary>The process exports exactly the series the catalogue lists under <paramref name="sources"/>, with their types and labels.</summary>
    private static void Compare(string process, MetricsScrape scrape, IReadOnlyList<MetricSource> sources, List<string> problems)
    {
        var documented = sources.SelectMany(Catalogue.Of).ToDictionary(e => e.Name, StringComparer.Ordinal);
        // A family prometheus-net declares (HELP and TYPE) before its first labelled sample is not exported yet: the
        // GPU engine's series on a CPU backend. A documented one without samples is reported below.
        foreach (var family in scrape.Families.Values.Where(f => f.LabelSets.Count > 0 || !f.Name.StartsWith("mesh_", StringComparison.Ordinal)))
        {
            if (!family.Name.StartsWith("mesh_", StringComparison.Ordinal))
            {
                if (!Catalogue.IsRuntimeSeries(family.Name))
                {
                    problems.Add($"{process}: {family.Name} is exported but is neither catalogued nor under a documented prefix");
                }

                continue;
            }

            if (!documented.TryGetValue(family.Name, out var entry))
            {
                problems.Add($"{process}: {family.Name} is exported but not in the {string.Join(" or ", sources)} tables");
                continue;
            }

            if (entry.Type != family.Type)
            {
                problems.Add($"{process}: {family.Name} is a {family.Type}, catalogued as {entry.Type}");
            }

            foreach (var labels in family.LabelSets.Where(l => !l.SetEquals(entry.Labels)).Select(l => string.Join(",", l.Order(StringComparer.Ordinal))).Distinct())
            {
                problems.Add($"{process}: {family.Name} has labels {{{labels}}}, catalogued {{{string.Join(",", entry.Labels.Order(StringComparer.Ordinal))}}}");
            }
        }

        foreach (var entry in documented.Values.Where(e => !scrape.Families.TryGetValue(e.Name, out var family) || family.LabelSets.Count == 0))
        {
            problems.Add($"{process}: {entry.Name} is catalogued but has no samples after the traffic");
        }

        foreach (var group in Catalogue.Groups.Where(g => g.Always && !scrape.Families.Keys.Any(n => n.StartsWith(g.Prefix, StringComparison.Ordinal))))
        {
            problems.Add($"{process}: no series under {group.Prefix}, documented as always present");
        }
    }
}
