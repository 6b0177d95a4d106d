using System.Globalization;
using System.Text.Json.Nodes;

namespace Mesh.Bench.Load;

/// <summary>What a run was, besides its requests: for the report's header and its goals.</summary>
public sealed record RunContext(
    BenchProfile Profile,
    BenchTargets Targets,
    int RatedConcurrency,
    string Command,
    DateTimeOffset StartedAt,
    double Seconds,
    JsonObject? Fleet,
    Fidelity? Fidelity);

/// <summary>A goal of the benchmark and whether the run met it; null when the run could not measure it.</summary>
public sealed record Goal(string Name, string Limit, double? Value, bool? Met);

/// <summary>
/// Turns a run's records into <c>results.json</c>: the headline figures (gateway overhead, TTFA vs text length,
/// underruns, throughput), every comparison in detail, and the goals met or missed.
/// </summary>
public sealed class ResultsReport(IReadOnlyList<RequestRecord> records, IReadOnlyList<RunWindow> windows, IReadOnlyList<OpenLoopRun> openLoops, RunContext context)
{
    private const int Resamples = 2000;

    public IReadOnlyList<Goal> Goals { get; private set; } = [];

    public JsonObject Build()
    {
        var overhead = ArmComparisons(Phases.Overhead, BenchSession.DirectArm, BenchSession.GatewayArm);
        var neural = ArmComparisons(Phases.NeuralOverhead, BenchSession.DirectArm, BenchSession.GatewayArm);
        var length = LengthComparison(Phases.Length);
        var neuralLength = LengthComparison(Phases.NeuralLength);
        var sweep = Sweep();
        var rated = context.RatedConcurrency;
        var counted = records.Where(r => r.Result.Underruns is not null && r.Result.Ok && !r.Result.Partial).ToArray();
        var underruns = counted.Where(r => r.Concurrency <= rated).Sum(r => r.Result.Underruns!.Value);
        var underrunsAbove = counted.Where(r => r.Concurrency > rated).Sum(r => r.Result.Underruns!.Value);
        var atOne = overhead.FirstOrDefault(o => o.Concurrency == overhead.Min(x => x.Concurrency));
        var ratioSource = neural.Count > 0 ? neural : overhead;
        var ratioAtOne = ratioSource.FirstOrDefault(o => o.Concurrency == ratioSource.Min(x => x.Concurrency));
        var mainSweep = sweep.Where(s => s.Arm == context.Targets.Main.Name).OrderBy(s => s.Concurrency).ToArray();

        Goals = BuildGoals(overhead, neural, length, neuralLength, underruns);
        var failed = records.Where(r => !r.Result.Ok).ToArray();
        var results = new JsonObject
        {
            ["profile"] = context.Profile.Name,
            ["started_at"] = context.StartedAt.ToString("O", CultureInfo.InvariantCulture),
            ["duration_s"] = Round(context.Seconds),
            ["command"] = context.Command,
            ["machine"] = Machine(),
            ["fleet"] = context.Fleet?.DeepClone(),
            ["model"] = context.Targets.Model,
            ["gateway_added_ttfa_ms_p50"] = Round(atOne?.AddedP50.Estimate),
            ["gateway_added_ttfa_ms_p99"] = Round(atOne?.AddedP99.Estimate),
            ["gateway_added_ttfa_ms_by_concurrency"] = new JsonObject(overhead.Select(o => KeyValuePair.Create(
                o.Concurrency.ToString(CultureInfo.InvariantCulture),
                (JsonNode?)new JsonObject { ["p50"] = Round(o.AddedP50.Estimate), ["p99"] = Round(o.AddedP99.Estimate) }))),
            ["gateway_ttfa_ratio_p50"] = Round(ratioAtOne?.RatioP50, 4),
            ["gateway_ttfa_ratio_p99"] = Round(ratioAtOne?.RatioP99, 4),
            ["gateway_ttfa_ratio_model"] = neural.Count > 0 ? NeuralLabel() : context.Targets.Model,
            ["ttfa_length_ratio"] = Round(length?.RatioP50, 4),
            ["ttfa_length_ratio_ci95"] = length?.RatioInterval(),
            ["ttfa_length_ratio_neural"] = Round(neuralLength?.RatioP50, 4),
            ["rated_concurrency"] = rated,
            ["underruns"] = underruns,
            ["underruns_above_rated"] = underrunsAbove,
            ["underrun_requests"] = counted.Count(r => r.Result.Underruns > 0),
            ["max_clean_concurrency"] = MaxCleanConcurrency(mainSweep),
            ["throughput_audio_s_per_s"] = Round(mainSweep.Length == 0 ? null : mainSweep.Max(s => s.Throughput)),
            ["requests"] = records.Count,
            ["failed_requests"] = failed.Length,
            ["failures"] = new JsonArray([.. failed.GroupBy(r => r.Result.Error).OrderByDescending(g => g.Count()).Take(10)
                .Select(g => (JsonNode)new JsonObject { ["error"] = g.Key, ["count"] = g.Count() })]),
            ["gateway_overhead"] = new JsonArray([.. overhead.Select(o => o.ToJson(context.Targets.Model)), .. neural.Select(o => o.ToJson(NeuralLabel()))]),
            ["ttfa_length"] = new JsonArray([.. new[] { length?.ToJson(context.Targets.Model), neuralLength?.ToJson(NeuralLabel()) }.OfType<JsonNode>()]),
            ["per_concurrency"] = new JsonArray([.. sweep.Select(s => s.ToJson())]),
            ["balancing"] = Balancing(sweep),
            ["open_loop"] = new JsonArray([.. openLoops.Select(OpenLoop)]),
            ["ab"] = AbTest(),
            ["inter_chunk_gap_ms"] = Gaps(),
            ["by_surface"] = BySurface(),
            ["goals"] = new JsonArray([.. Goals.Select(g => (JsonNode)new JsonObject
            {
                ["goal"] = g.Name,
                ["limit"] = g.Limit,
                ["value"] = Round(g.Value, 4),
                ["met"] = g.Met,
            })]),
        };
        return results;
    }

    private string NeuralLabel() => context.Fleet?["neural_cost"]?["label"]?.GetValue<string>() ?? "neural-cost";

    private List<Goal> BuildGoals(
        List<ArmComparison> overhead, List<ArmComparison> neural, LengthResult? length, LengthResult? neuralLength, int underruns)
    {
        var goals = new List<Goal>();
        foreach (var o in overhead)
        {
            goals.Add(Check($"gateway adds to TTFA at p50, {Streams(o.Concurrency)} ({context.Targets.Model})", "<= 1 ms", o.AddedP50.Estimate, 1.0));
            goals.Add(Check($"gateway adds to TTFA at p99, {Streams(o.Concurrency)} ({context.Targets.Model})", "<= 5 ms", o.AddedP99.Estimate, 5.0));
        }

        foreach (var n in neural)
        {
            goals.Add(Check($"gateway TTFA ratio at p50, {Streams(n.Concurrency)} ({NeuralLabel()})", "<= 1.03", n.RatioP50, 1.03));
            goals.Add(Check($"gateway TTFA ratio at p99, {Streams(n.Concurrency)} ({NeuralLabel()})", "<= 1.10", n.RatioP99, 1.10));
        }

        goals.Add(Check($"TTFA 36 / 3 sentences at p50 ({context.Targets.Model})", "<= 1.1", length?.RatioP50, 1.1));
        if (neuralLength is not null)
        {
            goals.Add(Check($"TTFA 36 / 3 sentences at p50 ({NeuralLabel()})", "<= 1.1", neuralLength.RatioP50, 1.1));
        }

        goals.Add(new Goal($"underruns at or below the rated concurrency ({context.RatedConcurrency} streams)", "0", underruns, underruns == 0));
        return goals;
    }

    /// <summary>How a comparison's concurrency reads: one stream read at full speed, or N paced listeners.</summary>
    internal static string Streams(int concurrency) => concurrency == 1 ? "1 stream" : $"{concurrency} listeners";

    private static Goal Check(string name, string limit, double? value, double max) =>
        new(name, limit, value is { } v && double.IsFinite(v) ? v : null, value is { } w && double.IsFinite(w) ? w <= max : null);

    private List<ArmComparison> ArmComparisons(string phase, string baselineArm, string candidateArm) =>
    [
        .. records.Where(r => r.Phase == phase).GroupBy(r => r.Concurrency).OrderBy(g => g.Key)
            .Select(g => new ArmComparison(g.Key, [.. g.Where(r => r.Arm == baselineArm)], [.. g.Where(r => r.Arm == candidateArm)], baselineArm, candidateArm)),
    ];

    private LengthResult? LengthComparison(string phase)
    {
        var phaseRecords = records.Where(r => r.Phase == phase).ToArray();
        if (phaseRecords.Length == 0)
        {
            return null;
        }

        var shortTtfa = Ttfa(phaseRecords.Where(r => r.Arm == BenchSession.ShortArm));
        var longTtfa = Ttfa(phaseRecords.Where(r => r.Arm == BenchSession.LongArm));
        return new LengthResult(
            Summary.Of(shortTtfa),
            Summary.Of(longTtfa),
            Statistics.BootstrapRatio(shortTtfa, longTtfa, Statistics.QuantileOf(0.5), Resamples),
            phaseRecords.Count(r => !r.Result.Ok));
    }

    private List<SweepPoint> Sweep() =>
    [
        .. records.Where(r => r.Phase == Phases.Sweep).GroupBy(r => (r.Arm, r.Concurrency)).OrderBy(g => g.Key.Arm, StringComparer.Ordinal).ThenBy(g => g.Key.Concurrency)
            .Select(g =>
            {
                var ids = g.Select(r => r.Window).ToHashSet();
                var seconds = windows.Where(w => ids.Contains(w.Id)).Sum(w => w.Seconds);
                return new SweepPoint(g.Key.Arm, g.Key.Concurrency, [.. g], seconds);
            }),
    ];

    private static int? MaxCleanConcurrency(SweepPoint[] mainSweep)
    {
        int? clean = null;
        foreach (var point in mainSweep)
        {
            if (point.Underruns > 0 || point.Failed > 0)
            {
                break;
            }

            clean = point.Concurrency;
        }

        return clean;
    }

    private JsonObject? Balancing(List<SweepPoint> sweep)
    {
        if (context.Targets.Baseline is not { } baseline)
        {
            return null;
        }

        var main = context.Targets.Main.Name;
        var levels = new JsonArray();
        foreach (var ours in sweep.Where(s => s.Arm == main))
        {
            if (sweep.FirstOrDefault(s => s.Arm == baseline.Name && s.Concurrency == ours.Concurrency) is not { } theirs)
            {
                continue;
            }

            var oursTtfa = Ttfa(ours.Records);
            var theirsTtfa = Ttfa(theirs.Records);
            levels.Add(new JsonObject
            {
                ["concurrency"] = ours.Concurrency,
                ["ttfa_ms_p50"] = new JsonObject { [main] = Round(ours.Ttfa.P50), [baseline.Name] = Round(theirs.Ttfa.P50) },
                ["ttfa_ms_p99"] = new JsonObject { [main] = Round(ours.Ttfa.P99), [baseline.Name] = Round(theirs.Ttfa.P99) },
                ["throughput_audio_s_per_s"] = new JsonObject { [main] = Round(ours.Throughput), [baseline.Name] = Round(theirs.Throughput) },
                ["ttfa_delta_ms_p50"] = Interval(Statistics.BootstrapDifference(theirsTtfa, oursTtfa, Statistics.QuantileOf(0.5), Resamples)),
                ["ttfa_delta_ms_p99"] = Interval(Statistics.BootstrapDifference(theirsTtfa, oursTtfa, Statistics.QuantileOf(0.99), Resamples)),
            });
        }

        return new JsonObject
        {
            ["ours"] = main,
            ["yarp_default"] = baseline.Name,
            ["note"] = "delta = ours - YARP default; negative is better for ours",
            ["levels"] = levels,
        };
    }

    private JsonNode OpenLoop(OpenLoopRun run)
    {
        var runRecords = records.Where(r => r.Window == run.Window.Id).ToArray();
        var ok = runRecords.Where(r => r.Result.Ok).ToArray();
        // Sends over the span from the first to the last (N sends, N - 1 gaps): the run's window also waits for the last
        // answers, and over it the arrivals read slower than they came. Throughput keeps the run's window: audio delivered
        // per second of wall time, until the last of it arrived.
        var sends = runRecords.Select(r => r.StartSeconds).ToArray();
        double? achievedRate = sends.Length > 1 ? (sends.Length - 1) / Math.Max(1e-9, sends.Max() - sends.Min()) : null;
        return new JsonObject
        {
            ["target"] = run.Window.Arm,
            ["offered_rate_per_s"] = run.Window.OfferedRate,
            ["achieved_rate_per_s"] = Round(achievedRate),
            ["requests"] = runRecords.Length,
            ["failed"] = runRecords.Length - ok.Length,
            ["max_in_flight"] = run.MaxInFlight,
            ["ttfa_ms"] = SummaryJson(Summary.Of(Ttfa(ok))),
            ["total_ms"] = SummaryJson(Summary.Of(ok.Select(r => r.Result.TotalMs))),
            ["underruns"] = ok.Sum(r => r.Result.Underruns ?? 0),
            ["throughput_audio_s_per_s"] = Round(ok.Sum(r => r.Result.AudioSeconds) / Math.Max(1e-9, run.Window.Seconds)),
        };
    }

    private JsonObject? AbTest()
    {
        if (context.Targets is not { VariantA.Variant: { } a, VariantB.Variant: { } b })
        {
            return null;
        }

        var levels = new JsonArray();
        foreach (var group in records.Where(r => r.Phase == Phases.AbTest).GroupBy(r => r.Concurrency).OrderBy(g => g.Key))
        {
            var armA = group.Where(r => r.Arm == a && r.Result.Ok).ToArray();
            var armB = group.Where(r => r.Arm == b && r.Result.Ok).ToArray();
            var totalA = armA.Where(r => r.Result.ServerTimed).Select(r => r.Result.TotalMs).ToArray();
            var totalB = armB.Where(r => r.Result.ServerTimed).Select(r => r.Result.TotalMs).ToArray();
            levels.Add(new JsonObject
            {
                ["concurrency"] = group.Key,
                ["requests"] = group.Count(),
                ["failed"] = group.Count(r => !r.Result.Ok),
                ["ttfa_ms"] = new JsonObject { [a] = SummaryJson(Summary.Of(Ttfa(armA))), [b] = SummaryJson(Summary.Of(Ttfa(armB))) },
                ["ttfa_delta_ms_p50"] = Interval(Statistics.BootstrapDifference(Ttfa(armA), Ttfa(armB), Statistics.QuantileOf(0.5), Resamples)),
                ["ttfa_delta_ms_p99"] = Interval(Statistics.BootstrapDifference(Ttfa(armA), Ttfa(armB), Statistics.QuantileOf(0.99), Resamples)),
                ["total_delta_ms_p50"] = Interval(Statistics.BootstrapDifference(totalA, totalB, Statistics.QuantileOf(0.5), Resamples)),
                ["latency_ratio_p50"] = Round(Statistics.Percentile(totalB, 0.5) / Statistics.Percentile(totalA, 0.5), 4),
            });
        }

        var fidelity = context.Fidelity;
        return new JsonObject
        {
            ["a"] = a,
            ["b"] = b,
            ["note"] = "delta = b - a, with a 95% bootstrap interval",
            ["levels"] = levels,
            ["fidelity"] = fidelity is null ? null : new JsonObject
            {
                ["source"] = fidelity.Source,
                ["snr_db"] = Round(fidelity.SnrDb, 4),
                ["mel_distance"] = Round(fidelity.MelDistance, 4),
                ["latency_ratio"] = Round(fidelity.LatencyRatio, 4),
            },
        };
    }

    private JsonObject Gaps()
    {
        var streamed = records.Where(r => r.Result.ServerTimed && RequestKinds.IsPlayedAsStreamed(r.Kind)).ToArray();
        var result = SummaryJson(Summary.Of(streamed.SelectMany(r => r.Result.GapsMs)));
        result["by_surface"] = new JsonObject(streamed.GroupBy(r => r.Kind).OrderBy(g => g.Key).Select(g =>
            KeyValuePair.Create(RequestKinds.Name(g.Key), (JsonNode?)SummaryJson(Summary.Of(g.SelectMany(r => r.Result.GapsMs))))));
        return result;
    }

    private JsonObject BySurface() => new(records.Where(r => r.Result.Ok).GroupBy(r => r.Kind).OrderBy(g => g.Key).Select(g =>
        KeyValuePair.Create(RequestKinds.Name(g.Key), (JsonNode?)new JsonObject
        {
            ["requests"] = g.Count(),
            ["ttfa_ms"] = SummaryJson(Summary.Of(Ttfa(g))),
            ["rtf_p50"] = Round(Statistics.Percentile(g.Select(r => r.Result.Rtf).OfType<double>(), 0.5), 5),
        })));

    private static JsonObject Machine()
    {
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        return new JsonObject
        {
            ["cores"] = Environment.ProcessorCount,
            ["cpu"] = cpu,
            ["memory_gib"] = Round(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (double)(1L << 30), 1),
            ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
            ["runtime"] = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
            ["load_average_at_end"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : null,
        };
    }

    internal static double[] Ttfa(IEnumerable<RequestRecord> source) =>
        [.. source.Where(r => r.Result.Ok && r.Result.TtfaMs is not null).Select(r => r.Result.TtfaMs!.Value)];

    internal static JsonObject SummaryJson(Summary summary) => new()
    {
        ["count"] = summary.Count,
        ["mean"] = Round(summary.Mean),
        ["p50"] = Round(summary.P50),
        ["p90"] = Round(summary.P90),
        ["p99"] = Round(summary.P99),
        ["max"] = Round(summary.Max),
    };

    internal static JsonObject Interval(ConfidenceInterval interval) => new()
    {
        ["estimate"] = Round(interval.Estimate),
        ["ci95"] = new JsonArray(Round(interval.Lower), Round(interval.Upper)),
    };

    /// <summary>JSON has no NaN: what could not be measured is null.</summary>
    internal static JsonNode? Round(double? value, int digits = 3) =>
        value is { } v && double.IsFinite(v) ? JsonValue.Create(Math.Round(v, digits)) : null;

    /// <summary>Two arms of an interleaved comparison at one concurrency: candidate minus baseline.</summary>
    private sealed class ArmComparison
    {
        public ArmComparison(int concurrency, RequestRecord[] baseline, RequestRecord[] candidate, string baselineName, string candidateName)
        {
            Concurrency = concurrency;
            Baseline = baseline;
            Candidate = candidate;
            BaselineName = baselineName;
            CandidateName = candidateName;
            var b = Ttfa(baseline);
            var c = Ttfa(candidate);
            BaselineTtfa = Summary.Of(b);
            CandidateTtfa = Summary.Of(c);
            AddedP50 = Statistics.BootstrapDifference(b, c, Statistics.QuantileOf(0.5), Resamples);
            AddedP99 = Statistics.BootstrapDifference(b, c, Statistics.QuantileOf(0.99), Resamples);
        }

        public int Concurrency { get; }

        public RequestRecord[] Baseline { get; }

        public RequestRecord[] Candidate { get; }

        public string BaselineName { get; }

        public string CandidateName { get; }

        public Summary BaselineTtfa { get; }

        public Summary CandidateTtfa { get; }

        public ConfidenceInterval AddedP50 { get; }

        public ConfidenceInterval AddedP99 { get; }

        public double RatioP50 => CandidateTtfa.P50 / BaselineTtfa.P50;

        public double RatioP99 => CandidateTtfa.P99 / BaselineTtfa.P99;

        public JsonObject ToJson(string model)
        {
            var byKind = new JsonObject();
            foreach (var kind in Candidate.Select(r => r.Kind).Distinct().Order())
            {
                var added = Statistics.Percentile(Ttfa(Candidate.Where(r => r.Kind == kind)), 0.5) - Statistics.Percentile(Ttfa(Baseline.Where(r => r.Kind == kind)), 0.5);
                byKind[RequestKinds.Name(kind)] = Round(added);
            }

            return new JsonObject
            {
                ["model"] = model,
                ["concurrency"] = Concurrency,
                ["requests"] = Baseline.Length + Candidate.Length,
                ["failed"] = Baseline.Concat(Candidate).Count(r => !r.Result.Ok),
                ["paced_listeners"] = Candidate.Any(r => r.Result.Paced),
                ["ttfa_ms"] = new JsonObject { [CandidateName] = SummaryJson(CandidateTtfa), [BaselineName] = SummaryJson(BaselineTtfa) },
                ["added_ttfa_ms_p50"] = Interval(AddedP50),
                ["added_ttfa_ms_p99"] = Interval(AddedP99),
                ["ttfa_ratio_p50"] = Round(RatioP50, 4),
                ["ttfa_ratio_p99"] = Round(RatioP99, 4),
                ["added_ttfa_ms_p50_by_surface"] = byKind,
            };
        }
    }

    /// <param name="Ratio">The ratio of the medians (long / short) with its bootstrap interval.</param>
    private sealed record LengthResult(Summary Short, Summary Long, ConfidenceInterval Ratio, int Failed)
    {
        public double RatioP50 => Long.P50 / Short.P50;

        public JsonArray RatioInterval() => new(Round(Ratio.Lower, 4), Round(Ratio.Upper, 4));

        public JsonObject ToJson(string model) => new()
        {
            ["model"] = model,
            ["ttfa_ms"] = new JsonObject { [BenchSession.ShortArm] = SummaryJson(Short), [BenchSession.LongArm] = SummaryJson(Long) },
            ["ttfa_length_ratio"] = Round(RatioP50, 4),
            ["ttfa_length_ratio_ci95"] = RatioInterval(),
            ["ttfa_length_ratio_p90"] = Round(Long.P90 / Short.P90, 4),
            ["failed"] = Failed,
        };
    }
}

/// <summary>One arm at one concurrency of the sweep.</summary>
public sealed class SweepPoint(string arm, int concurrency, RequestRecord[] records, double seconds)
{
    public string Arm => arm;

    public int Concurrency => concurrency;

    public RequestRecord[] Records => records;

    public int Failed => records.Count(r => !r.Result.Ok);

    public int Underruns => records.Where(r => r.Result.Ok).Sum(r => r.Result.Underruns ?? 0);

    public Summary Ttfa { get; } = Summary.Of(ResultsReport.Ttfa(records));

    /// <summary>Seconds of audio delivered per second of wall time, over this point's blocks.</summary>
    public double Throughput => records.Where(r => r.Result.Ok).Sum(r => r.Result.AudioSeconds) / Math.Max(1e-9, seconds);

    public JsonNode ToJson()
    {
        var ok = records.Where(r => r.Result.Ok).ToArray();
        return new JsonObject
        {
            ["target"] = arm,
            ["concurrency"] = concurrency,
            ["requests"] = records.Length,
            ["failed"] = Failed,
            ["requests_per_s"] = ResultsReport.Round(records.Length / Math.Max(1e-9, seconds)),
            ["throughput_audio_s_per_s"] = ResultsReport.Round(Throughput),
            ["ttfa_ms"] = ResultsReport.SummaryJson(Ttfa),
            // Whole files are batch work that waits behind realtime streams by design; listeners see this part.
            ["ttfa_ms_streaming"] = ResultsReport.SummaryJson(Summary.Of(ResultsReport.Ttfa(records.Where(r => RequestKinds.IsPlayedAsStreamed(r.Kind))))),
            ["total_ms"] = ResultsReport.SummaryJson(Summary.Of(ok.Where(r => r.Result.ServerTimed).Select(r => r.Result.TotalMs))),
            ["rtf_p50"] = ResultsReport.Round(Statistics.Percentile(ok.Select(r => r.Result.Rtf).OfType<double>(), 0.5), 5),
            ["inter_chunk_gap_ms_p99"] = ResultsReport.Round(Statistics.Percentile(ok.Where(r => r.Result.ServerTimed).SelectMany(r => r.Result.GapsMs), 0.99)),
            ["underruns"] = Underruns,
            ["stall_ms"] = ResultsReport.Round(ok.Sum(r => r.Result.StallMs)),
        };
    }
}
