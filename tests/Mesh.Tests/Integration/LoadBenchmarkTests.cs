using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Mesh.Bench.Load;
using Mesh.Gateway.Auth;

namespace Mesh.Tests.Integration;

/// <summary>
/// The load benchmark run for a few seconds, as a process, as <c>./mesh bench</c> runs it, against a backend and gateway
/// of its own: its load would otherwise skew the load reports the shared fleet's balancing reads, and the timings of
/// tests running beside it, so its collection runs alone.
/// </summary>
[Collection(LoadBenchmarkDefinition.Name)]
public sealed class LoadBenchmarkTests : IAsyncLifetime
{
    private static readonly Dictionary<string, string> NoEnvironment = [];
    private HostProcess _backend = null!;
    private HostProcess _gateway = null!;

    public async Task InitializeAsync()
    {
        _backend = await MeshFleet.StartBackendAsync("bench-b0");
        _gateway = await MeshFleet.StartGatewayAsync([_backend.Url]);
        await _gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Fact]
    public async Task A_short_run_against_a_fleet_writes_results_with_the_headline_figures_and_plots()
    {
        var output = Directory.CreateTempSubdirectory("mesh-bench-");
        try
        {
            var (exitCode, text) = await RunBenchAsync(
                "--profile", "smoke", "--out", output.FullName,
                "--target", _gateway.Url.ToString(), "--direct", _backend.Url.ToString());

            Assert.True(exitCode == 0, text);
            var results = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(output.FullName, "results.json")))!;
            foreach (var field in new[] { "gateway_added_ttfa_ms_p50", "gateway_added_ttfa_ms_p99", "gateway_ttfa_ratio_p50", "gateway_ttfa_ratio_p99", "ttfa_length_ratio", "throughput_audio_s_per_s" })
            {
                Assert.True(results[field] is JsonValue value && double.IsFinite(value.GetValue<double>()), $"{field}: {results[field]?.ToJsonString() ?? "missing"}");
            }

            Assert.Equal(0, results["failed_requests"]!.GetValue<int>());
            Assert.True(results["underruns"]!.GetValue<int>() >= 0);
            Assert.NotEmpty(results["per_concurrency"]!.AsArray());
            Assert.NotEmpty(results["goals"]!.AsArray());
            var surfaces = results["by_surface"]!.AsObject().Select(p => p.Key).ToArray();
            Assert.Equal(["sse", "sentences", "pcm", "ws", "whole"], surfaces);
            var plots = results["plots"]!.AsArray().Select(p => p!.GetValue<string>()).ToArray();
            Assert.Contains("ttfa-cdf.png", plots);
            Assert.All(plots, plot => Assert.Equal(0x89, File.ReadAllBytes(Path.Combine(output.FullName, plot))[0]));
            var records = File.ReadLines(Path.Combine(output.FullName, "requests.jsonl")).Select(line => JsonNode.Parse(line)!).ToArray();
            var lengthArms = records.Where(r => r["phase"]!.GetValue<string>() == Phases.Length).Select(r => r["arm"]!.GetValue<string>());
            Assert.Equal([BenchSession.ShortArm, BenchSession.LongArm, BenchSession.LongArm, BenchSession.ShortArm], lengthArms); // ABBA pairs
        }
        finally
        {
            output.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_target_that_errors_makes_it_exit_non_zero_and_say_why()
    {
        var output = Directory.CreateTempSubdirectory("mesh-bench-");
        try
        {
            using var unreachablePort = new ClosedPort();
            var unreachable = unreachablePort.Url.ToString();
            var (down, downText) = await RunBenchAsync("--profile", "smoke", "--out", output.FullName, "--target", unreachable);
            var (refused, refusedText) = await RunBenchAsync(
                "--profile", "smoke", "--out", output.FullName, "--target", _gateway.Url.ToString(), "--voice", "no-such-voice");

            Assert.Equal(1, down);
            Assert.Contains(unreachable.TrimEnd('/'), downText, StringComparison.Ordinal);
            Assert.Contains("nothing was measured", downText, StringComparison.Ordinal);
            Assert.Equal(1, refused);
            Assert.Contains("HTTP 404", refusedText, StringComparison.Ordinal);
        }
        finally
        {
            output.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_gateway_with_api_keys_is_benched_with_the_key_from_the_environment()
    {
        var key = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        await using var keyed = await MeshFleet.StartGatewayAsync(
            [_backend.Url], "--Mesh:Auth:Keys:0:Name=bench", $"--Mesh:Auth:Keys:0:Sha256={ApiKeyStore.HashOf(key)}");
        await keyed.WaitReadyAsync(TimeSpan.FromSeconds(30));
        var output = Directory.CreateTempSubdirectory("mesh-bench-");
        try
        {
            var withKey = new Dictionary<string, string> { [RequestDefaults.ApiKeyVariable] = key };

            // The preflight sends every surface (the WebSocket included) to the target before the one comparison runs.
            var (load, loadText) = await RunToolAsync(
                withKey, "load", "--profile", "smoke", "--out", output.FullName, "--target", keyed.Url.ToString(), "--only", "length");
            var (ttfa, ttfaText) = await RunToolAsync(withKey, "ttfa", "--target", keyed.Url.ToString(), "--repeats", "1");
            var (anonymous, anonymousText) = await RunToolAsync(NoEnvironment, "ttfa", "--target", keyed.Url.ToString(), "--repeats", "1");

            Assert.True(load == 0, loadText);
            Assert.DoesNotContain(key, await File.ReadAllTextAsync(Path.Combine(output.FullName, "results.json")), StringComparison.Ordinal);
            Assert.True(ttfa == 0, ttfaText);
            Assert.Equal(1, anonymous);
            Assert.Contains("HTTP 401: Missing API key", anonymousText, StringComparison.Ordinal);
        }
        finally
        {
            output.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_settling_period_sends_its_load_but_records_only_what_follows_it()
    {
        using var client = new SpeechClient(RequestDefaults.Standard);
        var runner = new LoadRunner(client, new SilentProgress());
        var target = new Target("direct", _backend.Url);
        var drawn = 0;
        // A window that several requests start in even on a loaded machine, where one request outlasted a 0.5 s window.
        var budget = Budget.For(TimeSpan.FromSeconds(3)) with { Settle = TimeSpan.FromSeconds(0.5) };

        var window = await runner.ClosedLoopAsync(
            "settle", "*", "settle", 1, budget,
            _ =>
            {
                drawn++;
                return [new Planned("direct", target, new BenchRequest(RequestKind.Pcm, "A short sentence."))];
            },
            seed: 1,
            CancellationToken.None);

        Assert.True(window.StartSeconds >= 0.5, $"the window starts at {window.StartSeconds:0.###} s");
        Assert.NotEmpty(runner.Records);
        Assert.All(runner.Records, record => Assert.True(record.StartSeconds >= window.StartSeconds));
        Assert.True(drawn > runner.Records.Count, $"{drawn} requests sent, {runner.Records.Count} recorded");
    }

    [Fact]
    public async Task Its_own_fleet_runs_with_the_shipped_allocator_settings_and_a_variants_own_settings_win()
    {
        var logs = Directory.CreateTempSubdirectory("mesh-bench-fleet-");
        try
        {
            var variant = new VariantSpec("conserve0", new Dictionary<string, string> { ["DOTNET_GCConserveMemory"] = "0" });
            await using var fleet = await BenchFleet.StartAsync(new FleetPlan(200, 1, [variant]), RepoLayout.Find(), logs.FullName, CancellationToken.None);
            var environments = fleet.Description["processes"]!.AsArray().ToDictionary(
                p => p!["name"]!.GetValue<string>(),
                p => ProcessEnvironment(p!["pid"]!.GetValue<int>()));

            // What the bench's own environment sets wins, as with ./mesh up.
            var arenas = Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is { Length: > 0 } set ? set : ShippedAllocatorSettings.MallocArenaMax;
            var conserve = Environment.GetEnvironmentVariable("DOTNET_GCConserveMemory") is { Length: > 0 } own ? own : ShippedAllocatorSettings.BackendGcConserveMemory;
            Assert.All(environments.Values, environment => Assert.Equal(arenas, environment.GetValueOrDefault("MALLOC_ARENA_MAX")));
            Assert.Equal(conserve, environments["b1"].GetValueOrDefault("DOTNET_GCConserveMemory"));
            Assert.Equal(conserve, environments["n1"].GetValueOrDefault("DOTNET_GCConserveMemory"));
            Assert.Equal("0", environments["ab-conserve0"].GetValueOrDefault("DOTNET_GCConserveMemory"));
            Assert.Equal(Environment.GetEnvironmentVariable("DOTNET_GCConserveMemory"), environments["gw"].GetValueOrDefault("DOTNET_GCConserveMemory"));
        }
        finally
        {
            logs.Delete(recursive: true);
        }
    }

    private static Dictionary<string, string> ProcessEnvironment(int pid) =>
        File.ReadAllText($"/proc/{pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Select(entry => entry.Split('=', 2))
            .ToDictionary(pair => pair[0], pair => pair.Length > 1 ? pair[1] : "");

    private static Task<(int ExitCode, string Output)> RunBenchAsync(params string[] args) => RunToolAsync(NoEnvironment, ["load", .. args]);

    private static Task<(int ExitCode, string Output)> RunToolAsync(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        DotnetProcess.RunToExitAsync([RepoPaths.BenchDll, .. args], TimeSpan.FromSeconds(120), environment);
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LoadBenchmarkDefinition
{
    public const string Name = "load benchmark";
}
