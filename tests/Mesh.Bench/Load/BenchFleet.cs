using System.Text.Json.Nodes;

namespace Mesh.Bench.Load;

/// <summary>The variants of an A/B run and the engine settings each one's backend gets.</summary>
public sealed record VariantSpec(string Name, IReadOnlyDictionary<string, string> Environment);

/// <param name="NeuralDelayMs">What each sentence costs on the neural-cost backend (<c>Faults:SentenceDelayMs</c>).</param>
/// <param name="NeuralWorkers">Sentences that backend synthesizes at once (<c>WORKERS</c>).</param>
public sealed record FleetPlan(int NeuralDelayMs, int NeuralWorkers, IReadOnlyList<VariantSpec> Variants);

/// <summary>
/// The bench's own fleet on loopback, so every comparison has both of its arms on the same backends:
/// <list type="bullet">
/// <item>b1, b2 (the configured model, the built-in voice by default); a gateway over b1 alone, for gateway vs direct;
/// two gateways over b1 and b2, one balancing with our LeastLoaded policy and one with YARP's default (PowerOfTwoChoices);</item>
/// <item>n1, the same model made to cost what a neural model costs per sentence, and a gateway over it;</item>
/// <item>with variants, a backend per variant and a gateway that serves both.</item>
/// </list>
/// Gateways and backends admit far more than the bench sends, so queues sized for a GPU fleet do not masquerade as
/// proxy overhead.
/// </summary>
public sealed class BenchFleet : IAsyncDisposable
{
    private static readonly string[] BackendArgs = ["--Pipeline:MaxActiveRealtime=4096", "--Pipeline:MaxActiveBatch=4096"];

    private static readonly string[] GatewayArgs =
    [
        "--Mesh:Admission:TotalConcurrency=4096",
        "--Mesh:Admission:RealtimeReserved=4",
        "--Mesh:Admission:Realtime:MaxQueue=4096",
        "--Mesh:Admission:Batch:MaxQueue=4096",
    ];

    private readonly List<FleetProcess> _processes = [];

    private BenchFleet()
    {
    }

    public BenchTargets Targets { get; private set; } = null!;

    public JsonObject Description { get; private set; } = [];

    public static async Task<BenchFleet> StartAsync(FleetPlan plan, RepoLayout layout, string logDirectory, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(logDirectory);
        var fleet = new BenchFleet();
        try
        {
            await fleet.StartProcessesAsync(plan, layout, logDirectory, cancellationToken);
            return fleet;
        }
        catch
        {
            await fleet.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Gateways (started last) go first, so none probes a backend that is already gone.
        foreach (var process in Enumerable.Reverse(_processes))
        {
            await process.DisposeAsync();
        }

        _processes.Clear();
    }

    private async Task StartProcessesAsync(FleetPlan plan, RepoLayout layout, string logDirectory, CancellationToken cancellationToken)
    {
        var none = new Dictionary<string, string>();
        var neuralEnvironment = new Dictionary<string, string>
        {
            ["Faults__SentenceDelayMs"] = plan.NeuralDelayMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["WORKERS"] = plan.NeuralWorkers.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        var backendSpecs = new List<(string Name, string Variant, IReadOnlyDictionary<string, string> Environment)>
        {
            ("b1", "default", none),
            ("b2", "default", none),
            ("n1", "default", neuralEnvironment),
        };
        backendSpecs.AddRange(plan.Variants.Select(v => ($"ab-{v.Name}", v.Name, v.Environment)));
        var backendAllocator = ShippedAllocatorSettings.For(backend: true);
        var backends = await Task.WhenAll(backendSpecs.Select(spec => StartAsync(
            layout.BackendDll,
            spec.Name,
            [$"--Backend:Name={spec.Name}", $"--Backend:Variant={spec.Variant}", .. BackendArgs],
            // A variant's own settings win over the shipped ones.
            backendAllocator.Where(s => !spec.Environment.ContainsKey(s.Key)).Concat(spec.Environment).ToDictionary(),
            logDirectory,
            cancellationToken)));
        var byName = backends.ToDictionary(b => b.Name);

        var gatewaySpecs = new List<(string Name, string[] Args)>
        {
            ("gw", [.. Fleet((byName["b1"], "default")), "--Mesh:Balancing:Policy=LeastLoaded"]),
            ("gw-ll", [.. Fleet((byName["b1"], "default"), (byName["b2"], "default")), "--Mesh:Balancing:Policy=LeastLoaded"]),
            ("gw-p2c", [.. Fleet((byName["b1"], "default"), (byName["b2"], "default")), "--Mesh:Balancing:Policy=PowerOfTwoChoices"]),
            ("gw-n", [.. Fleet((byName["n1"], "default"))]),
        };
        if (plan.Variants.Count > 0)
        {
            gatewaySpecs.Add(("gw-ab",
            [
                .. Fleet([.. plan.Variants.Select(v => (byName[$"ab-{v.Name}"], v.Name))]),
                .. plan.Variants.Select(v => $"--Mesh:Variants:Weights:{v.Name}=50"),
            ]));
        }

        var gateways = await Task.WhenAll(gatewaySpecs.Select(spec => StartAsync(
            layout.GatewayDll, spec.Name, [.. spec.Args, .. GatewayArgs], ShippedAllocatorSettings.For(backend: false), logDirectory, cancellationToken)));
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        await Task.WhenAll(backends.Concat(gateways).Select(p => p.WaitReadyAsync(http, TimeSpan.FromSeconds(180), cancellationToken)));
        var gatewayByName = gateways.ToDictionary(g => g.Name);

        Targets = new BenchTargets
        {
            Model = Environment.GetEnvironmentVariable("MODEL") is { Length: > 0 } model ? Path.GetFileName(model.TrimEnd('/')) : "espeak",
            Main = new Target("LeastLoaded", gatewayByName["gw-ll"].Url),
            Baseline = new Target("PowerOfTwoChoices", gatewayByName["gw-p2c"].Url),
            OverheadGateway = new Target("gateway", gatewayByName["gw"].Url),
            OverheadDirect = new Target("direct", byName["b1"].Url),
            NeuralGateway = new Target("neural gateway", gatewayByName["gw-n"].Url),
            NeuralDirect = new Target("neural direct", byName["n1"].Url),
            VariantA = plan.Variants.Count == 2 ? new Target($"variant {plan.Variants[0].Name}", gatewayByName["gw-ab"].Url, plan.Variants[0].Name) : null,
            VariantB = plan.Variants.Count == 2 ? new Target($"variant {plan.Variants[1].Name}", gatewayByName["gw-ab"].Url, plan.Variants[1].Name) : null,
        };
        Description = new JsonObject
        {
            ["local"] = true,
            ["processes"] = new JsonArray([.. _processes.Select(p => (JsonNode)new JsonObject { ["name"] = p.Name, ["url"] = p.Url.ToString(), ["pid"] = p.Pid })]),
            ["neural_cost"] = new JsonObject
            {
                ["label"] = $"neural-cost ({plan.NeuralDelayMs} ms/sentence, {plan.NeuralWorkers} workers)",
                ["sentence_delay_ms"] = plan.NeuralDelayMs,
                ["workers"] = plan.NeuralWorkers,
                ["how"] = "Faults:SentenceDelayMs on the same model: each sentence waits this long on an engine worker before it is synthesized",
            },
            ["admission"] = "gateways admit 4096 at once and backends 4096 per class, so no queue of the deployment's sizing is measured",
        };
    }

    private async Task<FleetProcess> StartAsync(
        string dll, string name, string[] args, IReadOnlyDictionary<string, string> environment, string logDirectory, CancellationToken cancellationToken)
    {
        var process = await FleetProcess.StartAsync(name, dll, args, environment, logDirectory, cancellationToken);
        lock (_processes)
        {
            _processes.Add(process);
        }

        return process;
    }

    /// <summary>Command-line configuration declaring the gateway's backends, all in the shared pool.</summary>
    private static IEnumerable<string> Fleet(params (FleetProcess Backend, string Variant)[] backends) =>
        backends.SelectMany((b, i) => new[]
        {
            $"--Mesh:Fleet:Backends:{i}:Name={b.Backend.Name}",
            $"--Mesh:Fleet:Backends:{i}:Address={b.Backend.Url}",
            $"--Mesh:Fleet:Backends:{i}:Pool=shared",
            $"--Mesh:Fleet:Backends:{i}:Variant={b.Variant}",
        });
}
