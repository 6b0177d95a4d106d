namespace Mesh.Bench.Load;

/// <summary>How much of each comparison a run does. Durations are per arm pair or block; counts are pairs of requests.</summary>
public sealed record BenchProfile
{
    public required string Name { get; init; }

    /// <summary>The longest each target is warmed up before anything is measured.</summary>
    public required TimeSpan Warmup { get; init; }

    /// <summary>How long each paired comparison runs unrecorded first, on its own load, before its duration starts.</summary>
    public required TimeSpan Settle { get; init; }

    public required int[] OverheadConcurrency { get; init; }

    /// <summary>At one stream; comparisons at more streams use paced listeners and run <see cref="ListenerDuration"/>.</summary>
    public required TimeSpan OverheadDuration { get; init; }

    /// <summary>How long a comparison of several paced listeners runs (a listener takes a request per utterance played).</summary>
    public required TimeSpan ListenerDuration { get; init; }

    /// <summary>
    /// Listeners arrive spread over this span: started in lockstep, the direct arm's requests would win the race to the
    /// backend's queue and the gateway's would wait behind them, which measures queue position, not the gateway.
    /// </summary>
    public required TimeSpan ListenerRampUp { get; init; }

    public required int[] NeuralConcurrency { get; init; }

    public required TimeSpan NeuralDuration { get; init; }

    /// <summary>
    /// Pairs of the built-in voice's length comparison. Its TTFA of a few milliseconds spreads from 2 to 7 ms after the
    /// pause between requests, so the median of 40 pairs moved the ratio by ±0.1 from run to run.
    /// </summary>
    public required int LengthPairs { get; init; }

    public required int NeuralLengthPairs { get; init; }

    public required int[] SweepConcurrency { get; init; }

    /// <summary>One policy runs alone for this long, then the other; <see cref="SweepRounds"/> rounds in ABBA order.</summary>
    public required TimeSpan SweepBlock { get; init; }

    public required int SweepRounds { get; init; }

    public required double[] OpenLoopRates { get; init; }

    public required TimeSpan OpenLoopDuration { get; init; }

    public required int[] AbConcurrency { get; init; }

    public required TimeSpan AbDuration { get; init; }

    /// <summary>Under five minutes on a two-core machine, fleet start included.</summary>
    public static BenchProfile Quick { get; } = new()
    {
        Name = "quick",
        Warmup = TimeSpan.FromSeconds(8),
        Settle = TimeSpan.FromSeconds(6),
        OverheadConcurrency = [1, 32],
        OverheadDuration = TimeSpan.FromSeconds(15),
        ListenerDuration = TimeSpan.FromSeconds(18),
        ListenerRampUp = TimeSpan.FromSeconds(4),
        NeuralConcurrency = [1, 32],
        NeuralDuration = TimeSpan.FromSeconds(20),
        LengthPairs = 140,
        NeuralLengthPairs = 8,
        SweepConcurrency = [1, 8, 32],
        SweepBlock = TimeSpan.FromSeconds(3),
        SweepRounds = 2,
        OpenLoopRates = [8],
        OpenLoopDuration = TimeSpan.FromSeconds(10),
        AbConcurrency = [1, 8],
        AbDuration = TimeSpan.FromSeconds(12),
    };

    public static BenchProfile Full { get; } = new()
    {
        Name = "full",
        Warmup = TimeSpan.FromSeconds(20),
        Settle = TimeSpan.FromSeconds(10),
        OverheadConcurrency = [1, 8, 32],
        OverheadDuration = TimeSpan.FromSeconds(60),
        ListenerDuration = TimeSpan.FromSeconds(120),
        ListenerRampUp = TimeSpan.FromSeconds(4),
        NeuralConcurrency = [1, 8, 32],
        NeuralDuration = TimeSpan.FromSeconds(45),
        LengthPairs = 300,
        NeuralLengthPairs = 20,
        SweepConcurrency = [1, 2, 4, 8, 16, 32, 64],
        SweepBlock = TimeSpan.FromSeconds(10),
        SweepRounds = 2,
        OpenLoopRates = [2, 8, 16, 32],
        OpenLoopDuration = TimeSpan.FromSeconds(30),
        AbConcurrency = [1, 8, 32],
        AbDuration = TimeSpan.FromSeconds(60),
    };

    /// <summary>
    /// A few seconds of everything, for tests of the tool itself; its figures mean nothing. Paired comparisons run at one
    /// stream only: paced listeners would take as long as their audio.
    /// </summary>
    public static BenchProfile Smoke { get; } = new()
    {
        Name = "smoke",
        Warmup = TimeSpan.Zero,
        Settle = TimeSpan.Zero,
        OverheadConcurrency = [1],
        OverheadDuration = TimeSpan.FromSeconds(1),
        ListenerDuration = TimeSpan.FromSeconds(1.5),
        ListenerRampUp = TimeSpan.FromSeconds(0.2),
        NeuralConcurrency = [1],
        NeuralDuration = TimeSpan.FromSeconds(1),
        LengthPairs = 2,
        NeuralLengthPairs = 1,
        SweepConcurrency = [1, 2],
        SweepBlock = TimeSpan.FromSeconds(0.5),
        SweepRounds = 1,
        OpenLoopRates = [4],
        OpenLoopDuration = TimeSpan.FromSeconds(1),
        AbConcurrency = [1],
        AbDuration = TimeSpan.FromSeconds(1),
    };

    public static IReadOnlyList<BenchProfile> All { get; } = [Quick, Full, Smoke];
}
