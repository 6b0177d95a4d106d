using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Spectre.Console;

namespace Mesh.Bench.Load;

/// <summary>
/// <c>Mesh.Bench load</c>: starts the bench fleet (or takes <c>--target</c>), checks every target answers, runs the
/// profile's comparisons with progress bars, and writes <c>results.json</c>, <c>requests.jsonl</c> and the plots.
/// Exits 1 when a target fails requests (and says which and why), 2 on bad options, 130 when interrupted.
/// </summary>
public static class LoadBenchmark
{
    private static readonly JsonSerializerOptions ReportJson = new() { WriteIndented = true };

    private static readonly JsonSerializerOptions RecordJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Any(arg => arg is "--help" or "-h"))
        {
            Console.WriteLine(LoadOptions.Usage);
            return 0;
        }

        if (LoadOptions.Parse(args, out var error) is not { } parsed)
        {
            Console.Error.WriteLine($"load: {error}");
            Console.Error.WriteLine(LoadOptions.Usage);
            return 2;
        }

        var options = parsed with { Request = parsed.Request with { ApiKey = RequestDefaults.ApiKeyFromEnvironment() } };

        Fidelity? fidelity = null;
        if (options.FidelityPath is { } fidelityPath && (fidelity = Fidelity.Read(fidelityPath, out error)) is null)
        {
            Console.Error.WriteLine($"load: {error}");
            return 2;
        }

        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });
        try
        {
            return await RunAsync(options, fidelity, string.Join(' ', args), stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            Console.Error.WriteLine("load: interrupted; the bench fleet is stopped");
            return 130;
        }
    }

    private static async Task<int> RunAsync(LoadOptions options, Fidelity? fidelity, string command, CancellationToken cancellationToken)
    {
        var startedAt = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        var layout = RepoLayout.Find();
        if (Corpus.Read(options.CorpusDirectory ?? layout.CorpusDirectory, out var corpusError) is not { } corpus)
        {
            Console.Error.WriteLine($"load: {corpusError}");
            return 2;
        }

        var outDirectory = Path.GetFullPath(options.OutDirectory);
        Directory.CreateDirectory(outDirectory);

        BenchFleet? fleet = null;
        try
        {
            BenchTargets targets;
            if (options.Target is null)
            {
                AnsiConsole.MarkupLine($"[grey]starting the bench fleet (logs in {Markup.Escape(Path.Combine(outDirectory, "logs"))})[/]");
                try
                {
                    fleet = await BenchFleet.StartAsync(options.FleetPlan(), layout, Path.Combine(outDirectory, "logs"), cancellationToken);
                }
                catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or FileNotFoundException or System.ComponentModel.Win32Exception)
                {
                    Console.Error.WriteLine($"load: the bench fleet did not start: {ex.Message}");
                    return 1;
                }

                targets = fleet.Targets;
                AnsiConsole.MarkupLine($"[grey]fleet ready after {clock.Elapsed.TotalSeconds:0.0} s[/]");
            }
            else
            {
                targets = options.RemoteTargets();
            }

            using var client = new SpeechClient(options.Request);
            var runner = new LoadRunner(client, new SilentProgress());
            var preflight = new BenchSession(runner, options.Profile, targets, options.Mix, corpus, options.Seed);
            var failures = await preflight.PreflightAsync(client, options.Profile.Warmup, cancellationToken);
            if (failures.Count > 0)
            {
                foreach (var failure in failures.Distinct())
                {
                    Console.Error.WriteLine($"load: {failure}");
                }

                Console.Error.WriteLine("load: a target fails requests; nothing was measured");
                return 1;
            }

            BenchSession session = null!;
            async Task RunSessionAsync(IBenchProgress progress)
            {
                runner = new LoadRunner(client, progress);
                session = new BenchSession(runner, options.Profile, targets, options.Mix, corpus, options.Seed, options.Only);
                await session.RunAsync(cancellationToken);
            }

            if (AnsiConsole.Profile.Capabilities.Interactive)
            {
                await AnsiConsole.Progress()
                    .AutoClear(false)
                    .HideCompleted(false)
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                    .StartAsync(context => RunSessionAsync(new ConsoleProgress(context)));
            }
            else
            {
                await RunSessionAsync(new LineProgress(Console.Out));
            }

            var context = new RunContext(options.Profile, targets, options.RatedConcurrency, command, startedAt, clock.Elapsed.TotalSeconds, fleet?.Description, fidelity);
            var report = new ResultsReport(runner.Records, runner.Windows, session.OpenLoops, context);
            var results = report.Build();
            var sweep = SweepPoints(runner);
            results["plots"] = new JsonArray([.. Plots.Render(runner.Records, sweep, outDirectory).Select(p => (JsonNode)p)]);
            await File.WriteAllTextAsync(Path.Combine(outDirectory, "results.json"), results.ToJsonString(ReportJson), cancellationToken);
            await File.WriteAllLinesAsync(
                Path.Combine(outDirectory, "requests.jsonl"), runner.Records.Select(r => JsonSerializer.Serialize(r, RecordJson)), cancellationToken);
            PrintSummary(results, report.Goals, outDirectory);
            return ExitCode(runner.Records);
        }
        finally
        {
            if (fleet is not null)
            {
                await fleet.DisposeAsync();
            }
        }
    }

    private static List<SweepPoint> SweepPoints(LoadRunner runner) =>
    [
        .. runner.Records.Where(r => r.Phase == Phases.Sweep).GroupBy(r => (r.Arm, r.Concurrency)).Select(g =>
        {
            var ids = g.Select(r => r.Window).ToHashSet();
            return new SweepPoint(g.Key.Arm, g.Key.Concurrency, [.. g], runner.Windows.Where(w => ids.Contains(w.Id)).Sum(w => w.Seconds));
        }),
    ];

    /// <summary>1 when any request failed, with the reasons per target; a benchmark of a failing target measures nothing.</summary>
    private static int ExitCode(IReadOnlyList<RequestRecord> records)
    {
        var failed = records.Where(r => !r.Result.Ok).ToArray();
        if (failed.Length == 0)
        {
            return 0;
        }

        foreach (var group in failed.GroupBy(r => (r.Phase, r.Arm)))
        {
            var reasons = group.GroupBy(r => r.Result.Error).OrderByDescending(g => g.Count()).Select(g => $"{g.Count()} × {g.Key}");
            Console.Error.WriteLine($"load: {group.Key.Phase} / {group.Key.Arm}: {group.Count()} requests failed: {string.Join("; ", reasons.Take(3))}");
        }

        Console.Error.WriteLine($"load: {failed.Length} of {records.Count} requests failed");
        return 1;
    }

    private static void PrintSummary(JsonObject results, IReadOnlyList<Goal> goals, string outDirectory)
    {
        string Figure(string key) => results[key]?.ToJsonString() ?? "not measured";
        AnsiConsole.WriteLine();
        AnsiConsole.MarkupLine($"gateway adds to TTFA ({Markup.Escape(results["model"]?.GetValue<string>() ?? "")}, 1 stream): p50 {Figure("gateway_added_ttfa_ms_p50")} ms, p99 {Figure("gateway_added_ttfa_ms_p99")} ms");
        AnsiConsole.MarkupLine($"gateway TTFA ratio ({Markup.Escape(results["gateway_ttfa_ratio_model"]?.GetValue<string>() ?? "")}, 1 stream): p50 {Figure("gateway_ttfa_ratio_p50")}, p99 {Figure("gateway_ttfa_ratio_p99")}");
        AnsiConsole.MarkupLine($"TTFA 36 / 3 sentences: {Figure("ttfa_length_ratio")} (95% CI {Markup.Escape(Figure("ttfa_length_ratio_ci95"))}); underruns at <= {Figure("rated_concurrency")} streams: {Figure("underruns")}; clean up to {Figure("max_clean_concurrency")} streams");
        AnsiConsole.MarkupLine($"throughput: {Figure("throughput_audio_s_per_s")} audio s/s; {Figure("requests")} requests, {Figure("failed_requests")} failed");
        foreach (var level in results["balancing"]?["levels"]?.AsArray() ?? [])
        {
            AnsiConsole.MarkupLine(Markup.Escape(
                $"balancing at {level!["concurrency"]} streams: TTFA p50 {level["ttfa_ms_p50"]!.ToJsonString()}, p99 {level["ttfa_ms_p99"]!.ToJsonString()}, audio s/s {level["throughput_audio_s_per_s"]!.ToJsonString()}"));
        }

        if (results["ab"] is JsonObject ab)
        {
            foreach (var level in ab["levels"]!.AsArray())
            {
                AnsiConsole.MarkupLine(Markup.Escape(
                    $"A/B {ab["b"]} - {ab["a"]} at {level!["concurrency"]} streams: TTFA p50 {level["ttfa_delta_ms_p50"]!.ToJsonString()} ms, p99 {level["ttfa_delta_ms_p99"]!.ToJsonString()} ms"));
            }

            if (ab["fidelity"] is JsonObject fidelity)
            {
                AnsiConsole.MarkupLine(Markup.Escape($"fidelity ({fidelity["source"]}): snr_db {fidelity["snr_db"]?.ToJsonString() ?? "-"}, mel_distance {fidelity["mel_distance"]?.ToJsonString() ?? "-"}, latency_ratio {fidelity["latency_ratio"]?.ToJsonString() ?? "-"}"));
            }
        }

        var table = new Table().AddColumns("goal", "limit", "measured", "");
        foreach (var goal in goals)
        {
            var verdict = goal.Met switch { true => "[green]met[/]", false => "[red]missed[/]", null => "[grey]not measured[/]" };
            table.AddRow(Markup.Escape(goal.Name), Markup.Escape(goal.Limit), goal.Value?.ToString("0.###", CultureInfo.InvariantCulture) ?? "-", verdict);
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"results: {Markup.Escape(Path.Combine(outDirectory, "results.json"))}");
    }
}
