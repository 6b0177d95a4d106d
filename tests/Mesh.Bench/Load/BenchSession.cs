namespace Mesh.Bench.Load;

/// <summary>
/// The comparisons of one run, one after another; within each, the arms interleave. Gateway against direct and the
/// A/B variants interleave request by request on the same texts; the balancing policies interleave in ABBA blocks,
/// because a policy only shows under its own load.
/// </summary>
public sealed class BenchSession(
    LoadRunner runner, BenchProfile profile, BenchTargets targets, TrafficMix mix, Corpus corpus, int seed, IReadOnlySet<string>? only = null)
{
    /// <summary>The comparisons <c>--only</c> can pick.</summary>
    public static IReadOnlyList<string> Comparisons { get; } = ["overhead", "length", "neural", "sweep", "open-loop", "ab"];

    public const string GatewayArm = "gateway";
    public const string DirectArm = "direct";
    public const string ShortArm = "3 sentences";
    public const string LongArm = "36 sentences";

    private const int WarmupRounds = 40;

    private readonly List<OpenLoopRun> _openLoops = [];

    public IReadOnlyList<OpenLoopRun> OpenLoops => _openLoops;

    /// <summary>
    /// One request of every surface in the mix to every target; where all answer, a warm-up of each target for up to
    /// <paramref name="warmup"/> or <see cref="WarmupRounds"/> rounds, so the hosts' code runs optimized (the runtime
    /// recompiles a method after some 30 calls) before anything is measured. Returns the failures.
    /// </summary>
    public async Task<IReadOnlyList<string>> PreflightAsync(SpeechClient client, TimeSpan warmup, CancellationToken cancellationToken)
    {
        var failures = new List<string>();
        var text = corpus.Sentences[0];
        foreach (var target in targets.All)
        {
            foreach (var kind in mix.Kinds)
            {
                var result = await client.RunAsync(target, new BenchRequest(kind, text), cancellationToken);
                if (!result.Ok)
                {
                    failures.Add($"{target}: {RequestKinds.Name(kind)} request failed: {result.Error}");
                }
            }
        }

        if (failures.Count > 0)
        {
            return failures;
        }

        await Task.WhenAll(targets.All.Select(async target =>
        {
            var elapsed = System.Diagnostics.Stopwatch.StartNew();
            for (var round = 0; round < WarmupRounds && elapsed.Elapsed < warmup; round++)
            {
                foreach (var kind in mix.Kinds)
                {
                    await client.RunAsync(target, new BenchRequest(kind, text), cancellationToken);
                }
            }
        }));
        return failures;
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (Runs("overhead") && targets is { OverheadGateway: { } gateway, OverheadDirect: { } direct })
        {
            foreach (var clients in profile.OverheadConcurrency)
            {
                await PairedAsync(Phases.Overhead, "gateway vs direct", (GatewayArm, gateway), (DirectArm, direct), clients, profile.OverheadDuration, cancellationToken);
            }
        }

        if (Runs("length"))
        {
            // Through the gateway to one backend: a pool would add which backend each arm happened to meet.
            await LengthAsync(Phases.Length, targets.OverheadGateway ?? targets.Main, profile.LengthPairs, firstAudioOnly: false, cancellationToken);
        }

        if (Runs("neural") && targets is { NeuralGateway: { } neuralGateway, NeuralDirect: { } neuralDirect })
        {
            foreach (var clients in profile.NeuralConcurrency)
            {
                await PairedAsync(Phases.NeuralOverhead, "neural-cost gateway vs direct", (GatewayArm, neuralGateway), (DirectArm, neuralDirect), clients, profile.NeuralDuration, cancellationToken);
            }

            // 36 sentences at a neural model's cost take seconds each; the comparison needs only their first audio. (The
            // built-in voice reads its streams whole: a stream left unread costs its connection, and the next request
            // would time a new one.)
            await LengthAsync(Phases.NeuralLength, neuralGateway, profile.NeuralLengthPairs, firstAudioOnly: true, cancellationToken);
        }

        if (Runs("sweep"))
        {
            await SweepAsync(cancellationToken);
        }

        foreach (var rate in Runs("open-loop") ? profile.OpenLoopRates : [])
        {
            var (window, maxInFlight) = await runner.OpenLoopAsync(
                Phases.OpenLoop, targets.Main.Name, $"open loop, {rate:0.#} requests/s", targets.Main, rate, profile.OpenLoopDuration, NextRequest, seed + (int)rate, cancellationToken);
            _openLoops.Add(new OpenLoopRun(window, maxInFlight));
        }

        if (Runs("ab") && targets is { VariantA: { } a, VariantB: { } b })
        {
            foreach (var clients in profile.AbConcurrency)
            {
                await PairedAsync(Phases.AbTest, $"A/B {a.Variant} vs {b.Variant}", (a.Variant!, a), (b.Variant!, b), clients, profile.AbDuration, cancellationToken);
            }
        }
    }

    private bool Runs(string comparison) => only is null || only.Contains(comparison);

    private BenchRequest NextRequest(Random random) => new(mix.Pick(random), corpus.Pick(random));

    /// <summary>
    /// Both arms on the same text, in random order, from each of <paramref name="clients"/> clients. One client reads
    /// as fast as it can; several are paced listeners, because N downloads at full speed would saturate this machine's
    /// cores and bury a millisecond difference under seconds of queueing that no listener would cause.
    /// </summary>
    private Task<RunWindow> PairedAsync(
        string phase, string title, (string Arm, Target Target) first, (string Arm, Target Target) second, int clients, TimeSpan oneClientDuration, CancellationToken cancellationToken)
    {
        var paced = clients > 1;
        return runner.ClosedLoopAsync(
            phase,
            "*",
            paced ? $"{title}, {clients} listeners" : $"{title}, 1 stream",
            clients,
            (paced ? Budget.For(profile.ListenerDuration) with { RampUp = profile.ListenerRampUp } : Budget.For(oneClientDuration)) with { Settle = profile.Settle },
            random =>
            {
                var request = NextRequest(random) with { Paced = paced };
                Planned[] pair = [new(first.Arm, first.Target, request), new(second.Arm, second.Target, request)];
                return random.Next(2) == 0 ? pair : [pair[1], pair[0]];
            },
            seed,
            cancellationToken);
    }

    /// <summary>TTFA of the 3- and 36-sentence texts in ABBA pairs with a pause before each request (<see cref="LengthPairs"/>).</summary>
    private Task<RunWindow> LengthAsync(string phase, Target target, int pairs, bool firstAudioOnly, CancellationToken cancellationToken)
    {
        var pair = 0;
        return runner.ClosedLoopAsync(
            phase,
            "*",
            $"TTFA for 3 vs 36 sentences{(firstAudioOnly ? ", neural cost" : "")} ({target.Name})",
            1,
            Budget.Count(pairs) with { Pause = LengthPairs.Pause },
            _ => LengthPairs.InOrder(
                pair++,
                new Planned(ShortArm, target, new BenchRequest(RequestKind.Pcm, corpus.ThreeSentences, firstAudioOnly)),
                new Planned(LongArm, target, new BenchRequest(RequestKind.Pcm, corpus.ThirtySixSentences, firstAudioOnly))),
            seed,
            cancellationToken);
    }

    private async Task SweepAsync(CancellationToken cancellationToken)
    {
        Target[] arms = targets.Baseline is { } baseline ? [targets.Main, baseline] : [targets.Main];
        foreach (var clients in profile.SweepConcurrency)
        {
            for (var round = 0; round < profile.SweepRounds; round++)
            {
                // ABBA: each policy goes first as often as second, so a trend within the level cancels.
                var order = round % 2 == 0 ? arms : [.. arms.Reverse()];
                foreach (var target in order)
                {
                    await runner.ClosedLoopAsync(
                        Phases.Sweep,
                        target.Name,
                        $"{clients} streams via {target.Name}, block {round + 1}/{profile.SweepRounds}",
                        clients,
                        Budget.For(profile.SweepBlock),
                        random => [new Planned(target.Name, target, NextRequest(random))],
                        seed + clients,
                        cancellationToken);
                }
            }
        }
    }
}

public sealed record OpenLoopRun(RunWindow Window, int MaxInFlight);
