using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Mesh.Backend.Host;
using Mesh.Tests.Integration;
using Microsoft.Extensions.Configuration;
using YamlDotNet.RepresentationModel;

namespace Mesh.Tests.Deployment;

/// <summary>
/// Docker cannot run here, so compose.yaml is checked against the code instead: every file it names exists, every
/// environment variable is one the code reads, and every port and address agrees with the service it points at.
/// </summary>
public sealed partial class ComposeFileTests
{
    private static readonly YamlMappingNode Compose = LoadYaml("compose.yaml");
    private static readonly YamlMappingNode Services = (YamlMappingNode)Compose["services"];

    private static IEnumerable<string> BackendServices =>
        Services.Children.Keys.Select(k => ((YamlScalarNode)k).Value!).Where(name => name.StartsWith("backend-", StringComparison.Ordinal));

    [Fact]
    public void The_fleet_has_a_gateway_backends_prometheus_and_grafana()
    {
        var names = Services.Children.Keys.Select(k => ((YamlScalarNode)k).Value).ToHashSet();

        Assert.Contains("gateway", names);
        Assert.Contains("prometheus", names);
        Assert.Contains("grafana", names);
        Assert.True(BackendServices.Count() >= 2, "at least two backends");
    }

    /// <summary>Without a restart policy Docker leaves a crashed backend or gateway down, and the whole fleet after a reboot.</summary>
    [Fact]
    public void Every_service_is_restarted_after_a_crash_or_a_reboot()
    {
        foreach (var service in Services.Children.Keys.Select(k => ((YamlScalarNode)k).Value!))
        {
            Assert.True(Service(service).Children.ContainsKey(new YamlScalarNode("restart")), $"{service} has no restart policy");
            Assert.True(Scalar(Service(service), "restart") is "always" or "unless-stopped", $"{service} is not restarted after a reboot");
        }
    }

    [Fact]
    public void The_gateway_cannot_start_without_an_api_key()
    {
        // Without keys the gateway serves loopback clients only, and no client of the published port is one.
        var environment = Environment("gateway");
        var fields = typeof(Mesh.Gateway.ApiKeyEntry).GetProperties().Select(p => $"Mesh__Auth__Keys__0__{p.Name}").ToHashSet();

        Assert.All(environment.Keys.Where(k => k.StartsWith("Mesh__Auth__", StringComparison.Ordinal)), key => Assert.Contains(key, fields));
        Assert.Matches(@"^\$\{[A-Z0-9_]+:\?.+\}$", environment["Mesh__Auth__Keys__0__Sha256"]);
        Assert.NotEmpty(environment["Mesh__Auth__Keys__0__Name"]);
    }

    [Fact]
    public void Every_dockerfile_exists_and_builds_a_project_that_exists()
    {
        foreach (var service in BackendServices.Prepend("gateway"))
        {
            var dockerfile = Path.Combine(RepoPaths.Root, Scalar(Service(service), "build", "dockerfile"));
            Assert.True(File.Exists(dockerfile), dockerfile);
            var text = File.ReadAllText(dockerfile);

            var project = PublishPattern().Match(text);
            Assert.True(project.Success, $"{dockerfile} publishes no project");
            Assert.True(File.Exists(Path.Combine(RepoPaths.Root, project.Groups[1].Value)), project.Groups[1].Value);

            var entryDll = EntryPointPattern().Match(text).Groups[1].Value;
            Assert.Equal(AssemblyNameOf(Path.Combine(RepoPaths.Root, project.Groups[1].Value)) + ".dll", entryDll);

            var port = HttpPort(service);
            Assert.Contains($"EXPOSE {port}", text, StringComparison.Ordinal);
            Assert.Contains($"ASPNETCORE_HTTP_PORTS={port}", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Backends_run_on_cuda_13_with_a_reserved_gpu()
    {
        foreach (var service in BackendServices)
        {
            var dockerfile = File.ReadAllText(Path.Combine(RepoPaths.Root, Scalar(Service(service), "build", "dockerfile")));
            Assert.Matches(@"FROM nvidia/cuda:13\.", dockerfile);

            var device = (YamlMappingNode)((YamlSequenceNode)Node(Service(service), "deploy", "resources", "reservations", "devices")).Children[0];
            Assert.Equal("nvidia", Scalar(device, "driver"));
            Assert.Contains("gpu", ((YamlSequenceNode)device["capabilities"]).Children.Select(c => ((YamlScalarNode)c).Value));
        }
    }

    /// <summary>
    /// Docker's nvidia driver turns <c>count: N</c> into the devices 0 .. N-1 of every container that asks, so two backends
    /// with <c>count: 1</c> would share GPU 0 while GPU 1 idles; each backend must name a device of its own.
    /// </summary>
    [Fact]
    public void Every_backend_reserves_a_gpu_of_its_own()
    {
        var taken = new HashSet<string>(StringComparer.Ordinal);
        foreach (var service in BackendServices)
        {
            var device = (YamlMappingNode)((YamlSequenceNode)Node(Service(service), "deploy", "resources", "reservations", "devices")).Children.Single();
            Assert.False(device.Children.ContainsKey(new YamlScalarNode("count")), $"{service} reserves GPUs by count, which gives every backend GPU 0");
            var ids = Sequence(device, "device_ids").ToArray();
            Assert.Single(ids);
            Assert.True(taken.Add(ids[0]), $"{service} reserves GPU {ids[0]}, which another backend has");
        }
    }

    /// <summary>
    /// On SIGTERM a gateway or backend stays up for its readiness grace and then gives in-flight streams the drain time;
    /// Docker kills a container <c>stop_grace_period</c> (10 s unless set) after SIGTERM, cutting those streams.
    /// </summary>
    [Fact]
    public void Stopping_a_service_leaves_it_the_time_to_drain()
    {
        foreach (var service in BackendServices.Prepend("gateway"))
        {
            var environment = Environment(service);
            var section = service == "gateway" ? "Mesh__Shutdown__" : "Shutdown__";
            var defaults = new Mesh.Contracts.Http.ShutdownOptions();
            var grace = environment.TryGetValue(section + nameof(defaults.ReadinessGraceSeconds), out var g) ? int.Parse(g, CultureInfo.InvariantCulture) : defaults.ReadinessGraceSeconds;
            var drain = environment.TryGetValue(section + nameof(defaults.DrainTimeoutSeconds), out var d) ? int.Parse(d, CultureInfo.InvariantCulture) : defaults.DrainTimeoutSeconds;

            var period = Service(service).Children.TryGetValue(new YamlScalarNode("stop_grace_period"), out var p)
                ? Seconds(((YamlScalarNode)p).Value!)
                : 10;
            Assert.True(period > grace + drain, $"{service}: killed {period} s after SIGTERM, but it drains for {grace} + {drain} s");
        }

        // Compose durations as this file writes them: whole minutes and seconds ("1m30s", "45s").
        static int Seconds(string duration)
        {
            var match = DurationPattern().Match(duration);
            Assert.True(match.Success, $"stop_grace_period '{duration}' is not minutes and seconds");
            return (match.Groups[1].Success ? int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) * 60 : 0) +
                (match.Groups[2].Success ? int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture) : 0);
        }
    }

    [Fact]
    public void Backend_environment_names_are_the_ones_the_backend_reads()
    {
        var engineNames = typeof(EngineOptions).GetProperties()
            .Select(p => p.GetCustomAttribute<ConfigurationKeyNameAttribute>()?.Name)
            .OfType<string>();
        var backendNames = typeof(BackendOptions).GetProperties().Select(p => $"{BackendOptions.Section}__{p.Name}");
        var known = engineNames.Concat(backendNames).Append("ASPNETCORE_HTTP_PORTS").ToHashSet();

        foreach (var service in BackendServices)
        {
            var environment = Environment(service);
            Assert.All(environment.Keys, name => Assert.Contains(name, known));
            Assert.Equal(service, environment["Backend__Name"]);
            Assert.Matches(ValidationPattern<BackendOptions>(nameof(BackendOptions.Name)), environment["Backend__Name"]);
        }
    }

    [Fact]
    public void Gateway_fleet_points_at_backend_services_with_their_variants()
    {
        var settings = Environment("gateway").Where(e => e.Key.StartsWith("Mesh__Fleet__", StringComparison.Ordinal)).ToArray();
        var fields = typeof(Mesh.Gateway.BackendEndpoint).GetProperties().Select(p => p.Name).ToHashSet();
        var backends = settings
            .Select(e => (Match: FleetSettingPattern().Match(e.Key), e.Value))
            .Select(e =>
            {
                Assert.True(e.Match.Success, "not a fleet setting the gateway reads");
                Assert.Contains(e.Match.Groups[2].Value, fields);
                return (Index: e.Match.Groups[1].Value, Field: e.Match.Groups[2].Value, e.Value);
            })
            .GroupBy(e => e.Index)
            .Select(g => g.ToDictionary(e => e.Field, e => e.Value))
            .ToArray();

        Assert.Equal(BackendServices.Order(), backends.Select(b => b["Name"]).Order());
        foreach (var backend in backends)
        {
            var url = new Uri(backend["Address"]);
            Assert.Equal(backend["Name"], url.Host);
            Assert.Equal(HttpPort(url.Host), url.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(Environment(url.Host)["Backend__Variant"], backend["Variant"]);
            Assert.Matches(ValidationPattern<Mesh.Gateway.BackendEndpoint>(nameof(Mesh.Gateway.BackendEndpoint.Pool)), backend["Pool"]);
        }
    }

    [Fact]
    public void Published_ports_and_health_checks_use_each_service_port()
    {
        Assert.Contains($"8080:{HttpPort("gateway")}", Sequence(Service("gateway"), "ports"));
        foreach (var service in BackendServices.Append("gateway"))
        {
            var test = string.Join(' ', Sequence(Service(service), "healthcheck", "test"));
            Assert.Contains($"http://127.0.0.1:{HttpPort(service)}/readyz", test, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Mounted_files_exist_and_prometheus_scrapes_the_compose_services()
    {
        foreach (var service in new[] { "prometheus", "grafana" })
        {
            foreach (var volume in Sequence(Service(service), "volumes"))
            {
                var hostPath = volume.Split(':')[0];
                Assert.True(File.Exists(Path.Combine(RepoPaths.Root, hostPath)) || Directory.Exists(Path.Combine(RepoPaths.Root, hostPath)), hostPath);
            }
        }

        var prometheus = LoadYaml(PrometheusConfigPath());
        var jobs = ((YamlSequenceNode)prometheus["scrape_configs"]).Children.Cast<YamlMappingNode>().ToArray();
        var targets = jobs
            .SelectMany(job => ((YamlSequenceNode)job["static_configs"]).Children.Cast<YamlMappingNode>())
            .SelectMany(config => ((YamlSequenceNode)config["targets"]).Children.Select(t => ((YamlScalarNode)t).Value!))
            .ToArray();
        var expected = BackendServices.Append("gateway").Select(s => $"{s}:{HttpPort(s)}");
        Assert.Equal(expected.Order(), targets.Order());
    }

    [Fact]
    public void Compose_prometheus_labels_backends_like_the_fleet_file_discovery_does()
    {
        var compose = LoadYaml(PrometheusConfigPath());
        var local = LoadYaml("ops/prometheus/prometheus.yml");

        // Same jobs and rule files as the configuration ./mesh up feeds, so rules and dashboards work on both.
        Assert.Equal(JobNames(local), JobNames(compose));
        Assert.Equal(Sequence(local, "rule_files"), Sequence(compose, "rule_files"));

        var pools = Environment("gateway")
            .Select(e => (Match: FleetSettingPattern().Match(e.Key), e.Value))
            .Where(e => e.Match.Success)
            .GroupBy(e => e.Match.Groups[1].Value)
            .Select(g => g.ToDictionary(e => e.Match.Groups[2].Value, e => e.Value))
            .ToDictionary(b => b["Name"], b => b["Pool"]);
        var backendJob = ((YamlSequenceNode)compose["scrape_configs"]).Children.Cast<YamlMappingNode>()
            .Single(job => Scalar(job, "job_name") == "mesh-backend");
        Assert.Equal("true", Scalar(backendJob, "honor_labels"));
        foreach (var group in ((YamlSequenceNode)backendJob["static_configs"]).Children.Cast<YamlMappingNode>())
        {
            var service = ((YamlScalarNode)((YamlSequenceNode)group["targets"]).Children.Single()).Value!.Split(':')[0];
            Assert.Equal(service, Scalar(group, "labels", "backend"));
            Assert.Equal(Environment(service)["Backend__Variant"], Scalar(group, "labels", "variant"));
            Assert.Equal(pools[service], Scalar(group, "labels", "pool"));
        }

        static string[] JobNames(YamlMappingNode config) =>
            [.. ((YamlSequenceNode)config["scrape_configs"]).Children.Select(job => Scalar((YamlMappingNode)job, "job_name"))];
    }

    [Fact]
    public void Grafana_dashboards_use_the_provisioned_datasource_uid()
    {
        var datasource = LoadYaml("ops/grafana/provisioning/datasources/prometheus.yaml");
        var uid = Scalar((YamlMappingNode)((YamlSequenceNode)datasource["datasources"]).Children[0], "uid");
        var dashboards = Directory.GetFiles(Path.Combine(RepoPaths.Root, "ops/grafana/dashboards"), "*.json");
        Assert.NotEmpty(dashboards);

        foreach (var file in dashboards)
        {
            using var dashboard = JsonDocument.Parse(File.ReadAllText(file));
            foreach (var panel in dashboard.RootElement.GetProperty("panels").EnumerateArray())
            {
                Assert.Equal(uid, panel.GetProperty("datasource").GetProperty("uid").GetString());
            }
        }
    }

    private static YamlMappingNode LoadYaml(string relativePath)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(Path.Combine(RepoPaths.Root, relativePath));
        stream.Load(reader);
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }

    private static YamlMappingNode Service(string name) => (YamlMappingNode)Services[name];

    /// <summary>The host file behind Prometheus's <c>--config.file</c>, through the service's volume mounts.</summary>
    private static string PrometheusConfigPath()
    {
        var service = Service("prometheus");
        var inContainer = Sequence(service, "command").Single(a => a.StartsWith("--config.file=", StringComparison.Ordinal))["--config.file=".Length..];
        foreach (var volume in Sequence(service, "volumes"))
        {
            var parts = volume.Split(':');
            if (inContainer == parts[1] || inContainer.StartsWith(parts[1] + "/", StringComparison.Ordinal))
            {
                return Path.GetRelativePath(RepoPaths.Root, Path.Combine(RepoPaths.Root, parts[0] + inContainer[parts[1].Length..]));
            }
        }

        throw new InvalidOperationException($"{inContainer} is not mounted into the prometheus service");
    }

    private static YamlNode Node(YamlMappingNode node, params string[] path) =>
        path.Aggregate((YamlNode)node, (current, key) => ((YamlMappingNode)current)[key]);

    private static string Scalar(YamlMappingNode node, params string[] path) => ((YamlScalarNode)Node(node, path)).Value!;

    private static IEnumerable<string> Sequence(YamlMappingNode node, params string[] path) =>
        ((YamlSequenceNode)Node(node, path)).Children.Select(c => ((YamlScalarNode)c).Value!);

    private static Dictionary<string, string> Environment(string service) =>
        ((YamlMappingNode)Service(service)["environment"]).Children
            .ToDictionary(e => ((YamlScalarNode)e.Key).Value!, e => ((YamlScalarNode)e.Value).Value!);

    private static string HttpPort(string service) => Environment(service)["ASPNETCORE_HTTP_PORTS"];

    private static string AssemblyNameOf(string csproj)
    {
        var assemblyName = AssemblyNamePattern().Match(File.ReadAllText(csproj));
        return assemblyName.Success ? assemblyName.Groups[1].Value : Path.GetFileNameWithoutExtension(csproj);
    }

    private static string ValidationPattern<T>(string property) =>
        typeof(T).GetProperty(property)!.GetCustomAttribute<RegularExpressionAttribute>()!.Pattern;

    [GeneratedRegex(@"dotnet publish (\S+\.csproj)")]
    private static partial Regex PublishPattern();

    [GeneratedRegex(@"ENTRYPOINT \[""dotnet"", ""([^""]+)""\]")]
    private static partial Regex EntryPointPattern();

    [GeneratedRegex("<AssemblyName>([^<]+)</AssemblyName>")]
    private static partial Regex AssemblyNamePattern();

    [GeneratedRegex("^Mesh__Fleet__Backends__([0-9]+)__([A-Za-z]+)$")]
    private static partial Regex FleetSettingPattern();

    [GeneratedRegex("^(?:([0-9]+)m)?(?:([0-9]+)s)?$")]
    private static partial Regex DurationPattern();
}
