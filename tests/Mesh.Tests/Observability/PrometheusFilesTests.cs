using System.Diagnostics;
using System.Text.RegularExpressions;
using Mesh.Tests.Documentation;
using Mesh.Tests.Integration;

namespace Mesh.Tests.Observability;

/// <summary>
/// The files of <c>ops/prometheus/</c> and <c>ops/grafana/</c> without a fleet: promtool accepts them, every alert has a
/// unit test that passes, and every series they name is in the catalogue.
/// </summary>
public sealed partial class PrometheusFilesTests
{
    private static readonly string Directory = Path.Combine(RepoPaths.Root, "ops/prometheus");
    private static readonly string[] PromtoolPaths = ["/usr/bin/promtool", "/usr/local/bin/promtool"];

    /// <summary>Comes with Debian's <c>prometheus</c> package, which CI installs; the tests fail rather than skip without it.</summary>
    private static string Promtool =>
        PromtoolPaths.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("promtool is not installed; run: apt-get install -y prometheus (.ci/run does).");

    [Fact]
    public async Task Promtool_accepts_both_configurations_and_the_rules()
    {
        await PromtoolAsync("check", "config", "prometheus.yml");
        await PromtoolAsync("check", "config", "prometheus.compose.yml");
        await PromtoolAsync(["check", "rules", .. RuleFileNames()]);
    }

    [Fact]
    public async Task Rule_unit_tests_pass()
    {
        var tests = System.IO.Directory.GetFiles(Directory, "*test*.yml").Select(Path.GetFileName).OfType<string>().ToArray();
        Assert.NotEmpty(tests);

        var output = await PromtoolAsync(["test", "rules", .. tests]);
        Assert.DoesNotContain("FAILED", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_alert_has_a_unit_test()
    {
        var tested = System.IO.Directory.GetFiles(Directory, "*test*.yml")
            .SelectMany(f => AlertName().Matches(File.ReadAllText(f)).Select(m => m.Groups[1].Value))
            .ToHashSet(StringComparer.Ordinal);

        var alerts = RuleFiles.Load().Where(r => r.IsAlert).Select(r => r.Name).ToArray();
        Assert.NotEmpty(alerts);
        Assert.All(alerts, alert => Assert.Contains(alert, tested));
    }

    /// <summary>
    /// Each alert's <c>runbook_url</c> leads to its own section of docs/runbook.md, and each section there is an alert's,
    /// so a renamed or removed alert does not leave a page behind.
    /// </summary>
    [Fact]
    public void Every_alert_links_its_own_runbook_section()
    {
        var runbook = MarkdownFile.Load(Path.Combine(RepoPaths.Root, "docs/runbook.md"));
        var alerts = RuleFiles.Load().Where(r => r.IsAlert).ToArray();

        Assert.All(alerts, alert =>
        {
            Assert.True(alert.Annotations.TryGetValue("runbook_url", out var url), $"{alert.Name} has no runbook_url");
            Assert.Equal($"docs/runbook.md#{MarkdownFile.AnchorOf(alert.Name)}", url);
            Assert.Contains(alert.Name, runbook.Headings);
        });
        Assert.Equal(alerts.Select(a => a.Name).Order(StringComparer.Ordinal), runbook.Headings.Skip(1).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Dashboards_and_rules_name_only_catalogued_series_and_dashboards_only_the_espeak_fleets()
    {
        var catalogue = MetricCatalogue.Load();
        var catalogued = catalogue.Entries.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        var engines = catalogue.NamesOf(MetricSource.OnnxEngine).Concat(catalogue.NamesOf(MetricSource.GpuEngine)).ToHashSet(StringComparer.Ordinal);
        var recorded = RuleFiles.Load().Where(r => !r.IsAlert).Select(r => r.Name).ToHashSet(StringComparer.Ordinal);

        bool Known(string name) => name == "up" || recorded.Contains(name) || catalogued.Contains(RuleFiles.FamilyOf(name)) ||
            catalogue.IsRuntimeSeries(name);

        foreach (var rule in RuleFiles.Load())
        {
            Assert.All(RuleFiles.Selectors(rule.Expression).Select(RuleFiles.NameOf), name => Assert.True(Known(name), $"{rule.Name} reads {name}, which docs/metrics.md does not list"));
        }

        // Every series a dashboard reads must be exported by the default fleet of ./mesh up, the espeak voice's; the
        // engines' panels are listed in docs/metrics.md.
        foreach (var dashboard in DashboardFile.LoadAll())
        {
            var names = dashboard.Panels.SelectMany(p => p.Targets).SelectMany(t => RuleFiles.Selectors(t.Expression)).Select(RuleFiles.NameOf);
            Assert.All(names, name =>
            {
                Assert.True(Known(name), $"{dashboard.FileName} reads {name}, which docs/metrics.md does not list");
                Assert.DoesNotContain(RuleFiles.FamilyOf(name), engines);
            });
        }
    }

    /// <summary>
    /// The A/B traffic split, evaluated by promtool on gateway counters: answers the gateway gives before it picks a
    /// variant (variant <c>none</c>: bad key, unknown path, wrong method) are neither a variant of their own nor part of
    /// the split, so with every variable on "All" the shares are the variants' 75/25.
    /// </summary>
    [Fact]
    public async Task Traffic_split_panel_leaves_out_answers_without_a_variant()
    {
        var panel = DashboardFile.LoadAll().SelectMany(d => d.Panels).Single(p => p.Title == "Traffic split between variants (gateway)");
        var expression = DashboardFile.Expand(Assert.Single(panel.Targets).Expression)
            .Replace($"[{DashboardFile.RateInterval}]", "[5m]", StringComparison.Ordinal);

        var file = Path.Combine(Path.GetTempPath(), $"mesh-traffic-split-{Guid.NewGuid():N}.yml");
        string Series(string variant, string code) =>
            $"mesh_requests_total{{job=\"mesh-gateway\", instance=\"gw:8080\", variant=\"{variant}\", pool=\"{(variant == "none" ? "none" : "shared")}\", priority=\"{(variant == "none" ? "none" : "batch")}\", code=\"{code}\"}}";
        static string VariantLabel(string variant) => "{variant=\"" + variant + "\"}";
        await File.WriteAllTextAsync(file, $"""
            evaluation_interval: 1m
            tests:
              - interval: 1m
                input_series:
                  - series: '{Series("a", "200")}'
                    values: '0+180x10'
                  - series: '{Series("b", "200")}'
                    values: '0+60x10'
                  - series: '{Series("none", "401")}'
                    values: '0+120x10'
                  - series: '{Series("none", "404")}'
                    values: '0+60x10'
                promql_expr_test:
                  - expr: '{expression.Replace("'", "''", StringComparison.Ordinal)}'
                    eval_time: 10m
                    exp_samples:
                      - labels: '{VariantLabel("a")}'
                        value: 0.75
                      - labels: '{VariantLabel("b")}'
                        value: 0.25
            """);
        try
        {
            var output = await PromtoolAsync("test", "rules", file);
            Assert.DoesNotContain("FAILED", output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>
    /// Every gateway replica probes every backend and exports its own <c>mesh_backend_healthy</c>; with the two of
    /// <c>ops/k8s/</c> a plain sum counted each ready backend twice. A backend counts once, as ready if any gateway
    /// sees it ready.
    /// </summary>
    [Fact]
    public async Task Ready_backends_per_pool_counts_each_backend_once_across_gateways()
    {
        var panel = DashboardFile.LoadAll().SelectMany(d => d.Panels).Single(p => p.Title == "Ready backends per pool");
        var expression = DashboardFile.Expand(Assert.Single(panel.Targets).Expression);
        static string Series(string gateway, string backend, string cluster) =>
            $"mesh_backend_healthy{{job=\"mesh-gateway\", instance=\"{gateway}:8080\", backend=\"{backend}\", cluster=\"{cluster}\"}}";
        static string ClusterLabel(string cluster) => "{cluster=\"" + cluster + "\"}";

        var file = Path.Combine(Path.GetTempPath(), $"mesh-ready-backends-{Guid.NewGuid():N}.yml");
        await File.WriteAllTextAsync(file, $"""
            evaluation_interval: 1m
            tests:
              - interval: 1m
                input_series:
                  - series: '{Series("gw-1", "b1", "shared:a")}'
                    values: '1x5'
                  - series: '{Series("gw-2", "b1", "shared:a")}'
                    values: '1x5'
                  - series: '{Series("gw-1", "b2", "shared:a")}'
                    values: '0x5'
                  - series: '{Series("gw-2", "b2", "shared:a")}'
                    values: '0x5'
                  - series: '{Series("gw-1", "b3", "shared:b")}'
                    values: '1x5'
                  - series: '{Series("gw-2", "b3", "shared:b")}'
                    values: '0x5'
                promql_expr_test:
                  - expr: '{expression.Replace("'", "''", StringComparison.Ordinal)}'
                    eval_time: 5m
                    exp_samples:
                      - labels: '{ClusterLabel("shared:a")}'
                        value: 1
                      - labels: '{ClusterLabel("shared:b")}'
                        value: 1
            """);
        try
        {
            var output = await PromtoolAsync("test", "rules", file);
            Assert.DoesNotContain("FAILED", output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static string[] RuleFileNames() =>
        [.. System.IO.Directory.GetFiles(Directory, "*rules.yml").Select(Path.GetFileName).OfType<string>()];

    private static async Task<string> PromtoolAsync(params string[] args)
    {
        var info = new ProcessStartInfo(Promtool)
        {
            WorkingDirectory = Directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var text = await output + await errors;
        Assert.True(process.ExitCode == 0, $"promtool {string.Join(' ', args)} failed:\n{text}");
        return text;
    }

    [GeneratedRegex(@"alertname:\s*(\S+)")]
    private static partial Regex AlertName();
}
