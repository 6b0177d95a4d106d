using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text.RegularExpressions;
using Mesh.Backend.Host;
using Mesh.Gateway;
using Mesh.Gateway.Auth;
using Mesh.Tests.Integration;
using Mesh.Tests.Observability;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using YamlDotNet.RepresentationModel;

namespace Mesh.Tests.Deployment;

/// <summary>
/// No cluster runs here, so the manifests of <c>ops/k8s/</c> are checked against the code and each other: ports
/// and probes are the ones the hosts serve, selectors select what they mean to, every environment variable is one
/// the code reads, the gateway's pools are the backends' headless Services, discovered through DNS, and the autoscaler's
/// metric exists.
/// </summary>
public sealed partial class KubernetesManifestTests
{
    private static readonly IReadOnlyList<YamlMappingNode> Manifests = LoadManifests();
    private static readonly string[] HealthEndpointSources = ["gateway/Mesh.Gateway/GatewayEndpoints.cs", "backends/onnx-cuda/Mesh.Backend.Host/HealthEndpoints.cs"];

    private static IEnumerable<YamlMappingNode> Deployments => OfKind("Deployment");

    private static IEnumerable<YamlMappingNode> Backends => Deployments.Where(d => Label(d, "app.kubernetes.io/component") == "backend");

    private static YamlMappingNode Gateway => Deployments.Single(d => Label(d, "app.kubernetes.io/component") == "gateway");

    [Fact]
    public void Kustomization_lists_every_manifest()
    {
        var kustomization = LoadYaml(Path.Combine(Root, "kustomization.yaml"))[0];
        var listed = Sequence(kustomization, "resources").Order(StringComparer.Ordinal);
        var files = Directory.GetFiles(Root, "*.yaml").Select(Path.GetFileName).OfType<string>()
            .Where(f => f != "kustomization.yaml").Order(StringComparer.Ordinal);
        Assert.Equal(files, listed);
    }

    [Fact]
    public void The_gateway_reads_its_api_keys_from_a_secret()
    {
        // Without keys the gateway serves loopback clients only, and no client of the Service is one.
        var container = Container(Gateway);
        var keysFile = Environment(container)["Mesh__Auth__KeysFile"];

        var mount = ((YamlSequenceNode)container["volumeMounts"]).Children.Cast<YamlMappingNode>()
            .Single(m => Scalar(m, "mountPath") == Path.GetDirectoryName(keysFile));
        var volume = ((YamlSequenceNode)Node(Gateway, "spec", "template", "spec", "volumes")).Children.Cast<YamlMappingNode>()
            .Single(v => Scalar(v, "name") == Scalar(mount, "name"));
        Assert.False(string.IsNullOrEmpty(Scalar(volume, "secret", "secretName")));
    }

    /// <summary>
    /// The kubelet writes a changed Secret into a new directory and swaps the <c>..data</c> link that <c>keys.json</c>
    /// points through; the file itself is never written. The gateway, started with the manifest's environment, must
    /// still see a key revoked that way.
    /// </summary>
    [Fact]
    public async Task A_key_revoked_in_the_secret_is_refused_without_a_restart()
    {
        var container = Container(Gateway);
        var mountPath = Scalar(((YamlSequenceNode)container["volumeMounts"]).Children.Cast<YamlMappingNode>().Single(), "mountPath");
        var keysFile = Path.GetFileName(Environment(container)["Mesh__Auth__KeysFile"]);
        var runtimeSettings = Environment(container).Where(e => e.Key.StartsWith("DOTNET_", StringComparison.Ordinal)).ToDictionary();

        var volume = Path.Combine(Path.GetTempPath(), $"mesh-secret-{Guid.NewGuid():N}");
        Directory.CreateDirectory(volume);
        try
        {
            await SyncSecretAsync(volume, keysFile, "..2026_01_01_00_00_00.1", revoked: false);
            File.CreateSymbolicLink(Path.Combine(volume, keysFile), Path.Combine("..data", keysFile));

            await using var gateway = await HostProcess.StartAsync(
                RepoPaths.GatewayDll,
                [.. MeshFleet.FleetArgs(0, "b0", new Uri($"http://127.0.0.1:{LoopbackPorts.Unused()}/"), "shared", "test"), $"--Mesh:Auth:KeysFile={Path.Combine(volume, keysFile)}"],
                runtimeSettings);
            using var client = new HttpClient { BaseAddress = gateway.Url };
            Assert.NotEqual(HttpStatusCode.Unauthorized, await StatusWithKeyAsync(client));

            await SyncSecretAsync(volume, keysFile, "..2026_01_01_00_01_00.2", revoked: true);
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (await StatusWithKeyAsync(client) != HttpStatusCode.Unauthorized && DateTime.UtcNow < deadline)
            {
                await Task.Delay(250);
            }

            Assert.Equal(HttpStatusCode.Unauthorized, await StatusWithKeyAsync(client));
        }
        finally
        {
            Directory.Delete(volume, recursive: true);
        }

        static async Task<HttpStatusCode> StatusWithKeyAsync(HttpClient client)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/v1/models", UriKind.Relative));
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "sk-team");
            using var response = await client.SendAsync(request);
            return response.StatusCode;
        }

        // As the kubelet's atomic writer does: the new files in a directory of their own, then ..data renamed over.
        static async Task SyncSecretAsync(string volume, string keysFile, string version, bool revoked)
        {
            Directory.CreateDirectory(Path.Combine(volume, version));
            var keys = new { Mesh = new { Auth = new { Keys = new[] { new { Name = "team", Sha256 = ApiKeyStore.HashOf("sk-team"), Revoked = revoked } } } } };
            await File.WriteAllTextAsync(Path.Combine(volume, version, keysFile), System.Text.Json.JsonSerializer.Serialize(keys));
            File.CreateSymbolicLink(Path.Combine(volume, "..data_tmp"), version);
            using var rename = System.Diagnostics.Process.Start("mv", ["-T", Path.Combine(volume, "..data_tmp"), Path.Combine(volume, "..data")]);
            await rename.WaitForExitAsync();
            Assert.Equal(0, rename.ExitCode);
        }
    }

    [Fact]
    public void Containers_listen_where_their_images_and_services_say()
    {
        foreach (var deployment in Deployments)
        {
            var container = Container(deployment);
            var port = Scalar(((YamlSequenceNode)container["ports"]).Children.Cast<YamlMappingNode>().Single(p => Scalar(p, "name") == "http"), "containerPort");
            Assert.Equal(port, Environment(container)["ASPNETCORE_HTTP_PORTS"]);

            var dockerfile = File.ReadAllText(Path.Combine(RepoPaths.Root, Scalar(container, "image") == "mesh-gateway" ? "gateway/Dockerfile" : "backends/onnx-cuda/Dockerfile"));
            Assert.Contains($"EXPOSE {port}", dockerfile, StringComparison.Ordinal);

            var annotations = (YamlMappingNode)Node(deployment, "spec", "template", "metadata", "annotations");
            Assert.Equal(port, Scalar(annotations, "prometheus.io/port"));
            Assert.Equal("/metrics", Scalar(annotations, "prometheus.io/path"));
        }
    }

    [Fact]
    public void Probes_use_the_hosts_health_and_readiness_endpoints()
    {
        var sources = HealthEndpointSources.Select(f => File.ReadAllText(Path.Combine(RepoPaths.Root, f))).ToArray();
        Assert.All(sources, source =>
        {
            Assert.Contains("MapGetAndHead(\"/healthz\"", source, StringComparison.Ordinal);
            Assert.Contains("MapGetAndHead(\"/readyz\"", source, StringComparison.Ordinal);
        });

        foreach (var deployment in Deployments)
        {
            var container = Container(deployment);
            // A backend is ready once its model is; the gateway's /readyz is false while any pool lacks a ready backend,
            // which all gateways share, so as their Service's readiness one empty pool would take every gateway out.
            var readiness = deployment == Gateway ? "/healthz" : "/readyz";
            Assert.Equal(readiness, Scalar(container, "readinessProbe", "httpGet", "path"));
            Assert.Equal("/healthz", Scalar(container, "livenessProbe", "httpGet", "path"));
            Assert.Equal("http", Scalar(container, "readinessProbe", "httpGet", "port"));
            Assert.Equal("http", Scalar(container, "livenessProbe", "httpGet", "port"));
        }
    }

    [Fact]
    public void Every_backend_gets_a_gpu_and_reads_only_settings_the_backend_knows()
    {
        var engineNames = typeof(EngineOptions).GetProperties()
            .Select(p => p.GetCustomAttribute<ConfigurationKeyNameAttribute>()?.Name)
            .OfType<string>();
        var known = engineNames.Concat(typeof(BackendOptions).GetProperties().Select(p => $"{BackendOptions.Section}__{p.Name}")).Append("ASPNETCORE_HTTP_PORTS").Append("Logging__Console__FormatterName").ToHashSet();

        Assert.NotEmpty(Backends);
        foreach (var backend in Backends)
        {
            var container = Container(backend);
            Assert.Equal("1", Scalar(container, "resources", "limits", "nvidia.com/gpu"));
            var environment = EnvironmentNodes(container);
            Assert.All(environment.Keys, name => Assert.Contains(name, known));
            Assert.Equal("metadata.name", Scalar(environment["Backend__Name"], "valueFrom", "fieldRef", "fieldPath"));
            Assert.Equal(Label(backend, "mesh.dev/variant"), Scalar(environment["Backend__Variant"], "value"));
        }
    }

    /// <summary>
    /// On SIGTERM a gateway or backend stays up for its readiness grace and then gives in-flight streams the drain time;
    /// the kubelet kills the container when the pod's grace period (30 s unless set) runs out, cutting those streams.
    /// </summary>
    [Fact]
    public void Every_pod_has_the_time_to_drain_before_it_is_killed()
    {
        foreach (var deployment in Deployments)
        {
            var settings = Environment(Container(deployment));
            var section = Label(deployment, "app.kubernetes.io/component") == "gateway" ? "Mesh__Shutdown__" : "Shutdown__";
            var defaults = new Mesh.Contracts.Http.ShutdownOptions();
            var grace = settings.TryGetValue(section + nameof(defaults.ReadinessGraceSeconds), out var g) ? int.Parse(g, CultureInfo.InvariantCulture) : defaults.ReadinessGraceSeconds;
            var drain = settings.TryGetValue(section + nameof(defaults.DrainTimeoutSeconds), out var d) ? int.Parse(d, CultureInfo.InvariantCulture) : defaults.DrainTimeoutSeconds;

            var podSpec = (YamlMappingNode)Node(deployment, "spec", "template", "spec");
            var period = podSpec.Children.TryGetValue(new YamlScalarNode("terminationGracePeriodSeconds"), out var p)
                ? int.Parse(((YamlScalarNode)p).Value!, CultureInfo.InvariantCulture)
                : 30;
            Assert.True(period > grace + drain, $"{Name(deployment)}: killed {period} s after SIGTERM, but it drains for {grace} + {drain} s");
        }
    }

    /// <summary>
    /// Neither host needs a capability (ports above 1024; the GPU's device nodes come from the device plugin), so no
    /// container may gain one, and the gateway, which faces clients, runs as its image's unprivileged user.
    /// </summary>
    [Fact]
    public void Containers_run_without_privileges_and_the_gateway_not_as_root()
    {
        foreach (var deployment in Deployments)
        {
            Assert.Equal("RuntimeDefault", Scalar(deployment, "spec", "template", "spec", "securityContext", "seccompProfile", "type"));
            var container = Container(deployment);
            Assert.Equal("false", Scalar(container, "securityContext", "allowPrivilegeEscalation"));
            Assert.Equal(["ALL"], Sequence(container, "securityContext", "capabilities", "drop"));
            Assert.False(((YamlMappingNode)Node(container, "securityContext", "capabilities")).Children.ContainsKey(new YamlScalarNode("add")));
        }

        Assert.Equal("true", Scalar(Gateway, "spec", "template", "spec", "securityContext", "runAsNonRoot"));
        var dockerfile = File.ReadAllText(Path.Combine(RepoPaths.Root, "gateway/Dockerfile"));
        var runtimeStage = dockerfile[dockerfile.LastIndexOf("\nFROM ", StringComparison.Ordinal)..];
        Assert.Matches(@"(?m)^USER \$APP_UID$", runtimeStage);
    }

    [Fact]
    public void Services_and_disruption_budgets_select_their_deployments_pods()
    {
        foreach (var service in OfKind("Service"))
        {
            var selected = Selected((YamlMappingNode)Node(service, "spec", "selector"));
            var port = ((YamlSequenceNode)Node(service, "spec", "ports")).Children.Cast<YamlMappingNode>().Single();
            Assert.Equal("http", Scalar(port, "targetPort"));
            if (Label(selected, "app.kubernetes.io/component") == "backend")
            {
                // A pool: headless, so its name resolves to every ready backend pod.
                Assert.Equal("None", Scalar(service, "spec", "clusterIP"));
                Assert.Equal(Environment(Container(selected))["ASPNETCORE_HTTP_PORTS"], Scalar(port, "port"));
            }
        }

        foreach (var budget in OfKind("PodDisruptionBudget"))
        {
            Selected((YamlMappingNode)Node(budget, "spec", "selector", "matchLabels"));
        }

        Assert.Equal(Deployments.Count(), OfKind("PodDisruptionBudget").Count());
    }

    [Fact]
    public void Gateway_pools_are_the_backend_services_with_their_variants_and_weights()
    {
        var settings = Environment(Container(Gateway));
        var fields = typeof(BackendEndpoint).GetProperties().Select(p => p.Name).ToHashSet();
        var sections = typeof(DiscoveryOptions).GetProperties().Select(p => $"Mesh__Discovery__{p.Name}")
            .Concat(typeof(Mesh.Contracts.Http.ShutdownOptions).GetProperties().Select(p => $"Mesh__Shutdown__{p.Name}"))
            .ToHashSet();
        Assert.All(settings.Keys, key => Assert.True(
            key is "ASPNETCORE_HTTP_PORTS" or "Logging__Console__FormatterName" or "Mesh__Auth__KeysFile" or "DOTNET_USE_POLLING_FILE_WATCHER" || WeightSetting().IsMatch(key) || sections.Contains(key) ||
            (FleetSetting().Match(key) is { Success: true } m && fields.Contains(m.Groups[2].Value)),
            $"{key} is not a setting the gateway reads"));

        var pools = settings.Select(e => (Match: FleetSetting().Match(e.Key), e.Value)).Where(e => e.Match.Success)
            .GroupBy(e => e.Match.Groups[1].Value)
            .Select(g => g.ToDictionary(e => e.Match.Groups[2].Value, e => e.Value))
            .ToArray();
        Assert.Equal(Backends.Count(), pools.Length);
        foreach (var pool in pools)
        {
            var address = new Uri(pool["Address"]);
            // The bare Service name, resolved in the gateway's namespace: a namespace in the address would break an overlay
            // that moves the whole kustomization elsewhere.
            var service = OfKind("Service").Single(s => address.Host == Name(s));
            var pods = Selected((YamlMappingNode)Node(service, "spec", "selector"));
            Assert.Equal(Scalar(((YamlSequenceNode)Node(service, "spec", "ports")).Children.Cast<YamlMappingNode>().Single(), "port"), address.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(Label(pods, "mesh.dev/variant"), pool["Variant"]);
            Assert.Equal(Label(pods, "mesh.dev/pool"), pool["Pool"]);
            Assert.True(settings.ContainsKey($"Mesh__Variants__Weights__{pool["Variant"]}"), $"variant {pool["Variant"]} has no weight");

            // The Service is headless, so its name stands for every ready pod: the gateway must resolve it into them.
            Assert.Equal("true", pool.GetValueOrDefault("Discover"));
        }

        // As the environment provider reads them (__ is :), the settings pass the gateway's own validation at start.
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(e => KeyValuePair.Create(e.Key.Replace("__", ":", StringComparison.Ordinal), (string?)e.Value)))
            .Build();
        using var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddGateway().BuildServiceProvider();
        Assert.Equal(pools.Length, services.GetRequiredService<IOptions<FleetOptions>>().Value.Backends.Count(b => b.Discover));
        Assert.Equal(int.Parse(settings["Mesh__Discovery__RefreshMs"], CultureInfo.InvariantCulture), services.GetRequiredService<IOptions<DiscoveryOptions>>().Value.RefreshMs);
    }

    [Fact]
    public void Autoscalers_scale_backends_on_a_catalogued_backend_series_served_by_the_adapter()
    {
        var catalogue = MetricCatalogue.Load();
        var adapter = Scalar(OfKind("ConfigMap").Single(c => Name(c) == "mesh-prometheus-adapter"), "data", "config.yaml");
        foreach (var autoscaler in OfKind("HorizontalPodAutoscaler"))
        {
            var target = Scalar(autoscaler, "spec", "scaleTargetRef", "name");
            Assert.Contains(target, Backends.Select(Name));
            var metric = Scalar((YamlMappingNode)((YamlSequenceNode)Node(autoscaler, "spec", "metrics")).Children[0], "pods", "metric", "name");
            Assert.Contains(catalogue.Of(MetricSource.Backend), e => e.Name == metric);
            Assert.Contains($"as: {metric}", adapter, StringComparison.Ordinal);
            Assert.Contains($"{metric}{{job=\"mesh-backend\"", adapter, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Kubernetes_scrape_config_has_the_jobs_and_rules_the_dashboards_expect()
    {
        // Debian's promtool is built without Kubernetes discovery, so this file is compared with the checked one.
        var local = LoadYaml(Path.Combine(RepoPaths.Root, "ops/prometheus/prometheus.yml"))[0];
        var cluster = LoadYaml(Path.Combine(Root, "prometheus-scrape.yml"))[0];
        Assert.Equal(Sequence(local, "rule_files"), Sequence(cluster, "rule_files"));
        Assert.Equal(JobNames(local), JobNames(cluster));

        var backendJob = ((YamlSequenceNode)cluster["scrape_configs"]).Children.Cast<YamlMappingNode>().Single(j => Scalar(j, "job_name") == "mesh-backend");
        Assert.Equal("true", Scalar(backendJob, "honor_labels"));
        var targets = ((YamlSequenceNode)backendJob["relabel_configs"]).Children.Cast<YamlMappingNode>()
            .Where(r => r.Children.ContainsKey(new YamlScalarNode("target_label")))
            .Select(r => Scalar(r, "target_label"))
            .ToHashSet(StringComparer.Ordinal);
        Assert.Superset(new HashSet<string>(["backend", "variant", "pool", "pod", "namespace"], StringComparer.Ordinal), targets);

        static string[] JobNames(YamlMappingNode config) =>
            [.. ((YamlSequenceNode)config["scrape_configs"]).Children.Select(job => Scalar((YamlMappingNode)job, "job_name"))];
    }

    private static string Root => Path.Combine(RepoPaths.Root, "ops/k8s");

    private static IReadOnlyList<YamlMappingNode> LoadManifests() =>
        [.. Directory.GetFiles(Root, "*.yaml").Where(f => Path.GetFileName(f) != "kustomization.yaml").SelectMany(LoadYaml)];

    private static List<YamlMappingNode> LoadYaml(string path)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(path);
        stream.Load(reader);
        return [.. stream.Documents.Select(d => (YamlMappingNode)d.RootNode)];
    }

    private static IEnumerable<YamlMappingNode> OfKind(string kind) => Manifests.Where(m => Scalar(m, "kind") == kind);

    private static string Name(YamlMappingNode manifest) => Scalar(manifest, "metadata", "name");

    /// <summary>The one Deployment whose pod labels the selector matches.</summary>
    private static YamlMappingNode Selected(YamlMappingNode selector)
    {
        var wanted = selector.Children.ToDictionary(e => ((YamlScalarNode)e.Key).Value!, e => ((YamlScalarNode)e.Value).Value!);
        return Assert.Single(Deployments, d =>
        {
            var labels = (YamlMappingNode)Node(d, "spec", "template", "metadata", "labels");
            return wanted.All(w => labels.Children.TryGetValue(new YamlScalarNode(w.Key), out var v) && ((YamlScalarNode)v).Value == w.Value);
        });
    }

    private static string? Label(YamlMappingNode deployment, string name) =>
        ((YamlMappingNode)Node(deployment, "spec", "template", "metadata", "labels")).Children.TryGetValue(new YamlScalarNode(name), out var value)
            ? ((YamlScalarNode)value).Value
            : null;

    private static YamlMappingNode Container(YamlMappingNode deployment) =>
        (YamlMappingNode)((YamlSequenceNode)Node(deployment, "spec", "template", "spec", "containers")).Children.Single();

    private static Dictionary<string, YamlMappingNode> EnvironmentNodes(YamlMappingNode container) =>
        ((YamlSequenceNode)container["env"]).Children.Cast<YamlMappingNode>().ToDictionary(e => Scalar(e, "name"));

    private static Dictionary<string, string> Environment(YamlMappingNode container) =>
        EnvironmentNodes(container).Where(e => e.Value.Children.ContainsKey(new YamlScalarNode("value")))
            .ToDictionary(e => e.Key, e => Scalar(e.Value, "value"));

    private static YamlNode Node(YamlMappingNode node, params string[] path) =>
        path.Aggregate((YamlNode)node, (current, key) => ((YamlMappingNode)current)[key]);

    private static string Scalar(YamlMappingNode node, params string[] path) => ((YamlScalarNode)Node(node, path)).Value!;

    private static IEnumerable<string> Sequence(YamlMappingNode node, params string[] path) =>
        ((YamlSequenceNode)Node(node, path)).Children.Select(c => ((YamlScalarNode)c).Value!);

    [GeneratedRegex("^Mesh__Fleet__Backends__([0-9]+)__([A-Za-z]+)$")]
    private static partial Regex FleetSetting();

    [GeneratedRegex("^Mesh__Variants__Weights__[A-Za-z0-9._-]+$")]
    private static partial Regex WeightSetting();
}
