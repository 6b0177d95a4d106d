using System.Globalization;
using System.Text.Json;
using Mesh.Backend.Engine;
using Mesh.ModelGeneration;

namespace Mesh.ModelTools.Compare;

/// <summary>How the second package's staged models are timed: with the first's durations, or their own.</summary>
public enum DurationAlignment
{
    /// <summary>b decodes with a's durations, so the audio is compared sample by sample; flips are counted apart.</summary>
    Forced,

    /// <summary>b uses its own durations; a changed duration shifts everything after it, which the SNR then pays for.</summary>
    Free,
}

public sealed record ComparisonOptions
{
    public required string A { get; init; }

    public required string B { get; init; }

    public required string Corpus { get; init; }

    public string? Voice { get; init; }

    /// <summary>Renderings per utterance and package; latencies are the median, and repeats check determinism.</summary>
    public int Repeats { get; init; } = 1;

    /// <summary>Only the first N utterances of the corpus (0: all).</summary>
    public int Limit { get; init; }

    public DurationAlignment Alignment { get; init; } = DurationAlignment.Forced;

    public EngineSettings Engine { get; init; } = EngineSettings.Cpu;
}

public sealed record UtteranceComparison(
    int Index, string Text, int SamplesA, int SamplesB, SnrSums Snr, MelSums? Mel, double LatencyAMs, double LatencyBMs, int? DurationMismatches, int? Tokens)
{
    public double LatencyRatio => LatencyAMs == 0 ? 1 : LatencyBMs / LatencyAMs;
}

/// <summary>Everything <c>./mesh models compare</c> measured.</summary>
public sealed record ComparisonResult(
    ComparisonOptions Options, string Kind, int SampleRate, string PrecisionA, string PrecisionB, string? Voice, bool? Deterministic,
    IReadOnlyList<UtteranceComparison> Utterances)
{
    /// <summary>Pooled over the corpus: total signal energy over total error energy.</summary>
    public double SnrDb => Utterances.Select(u => u.Snr).Aggregate(default(SnrSums), SnrSums.Add).Db;

    public double SnrDbMin => Utterances.Count == 0 ? 0 : Utterances.Min(u => u.Snr.Db);

    public double SnrDbMean => Utterances.Count == 0 ? 0 : Utterances.Average(u => u.Snr.Db);

    /// <summary>Frame-weighted mean over the corpus; null when the output is not audio.</summary>
    public double? MelDistance => SampleRate == 0 ? null : Utterances.Select(u => u.Mel!.Value).Aggregate(default(MelSums), MelSums.Add).Db;

    public double LatencyAMs => Utterances.Sum(u => u.LatencyAMs);

    public double LatencyBMs => Utterances.Sum(u => u.LatencyBMs);

    public double LatencyRatio => LatencyAMs == 0 ? 1 : LatencyBMs / LatencyAMs;

    public int? DurationMismatches => Utterances.Any(u => u.DurationMismatches is not null) ? Utterances.Sum(u => u.DurationMismatches ?? 0) : null;

    public int? Tokens => Utterances.Any(u => u.Tokens is not null) ? Utterances.Sum(u => u.Tokens ?? 0) : null;

    /// <summary>Latency per token (per decode step for <c>ref-ar</c>), where tokens are counted.</summary>
    public double? MsPerTokenA => Tokens is > 0 ? LatencyAMs / Tokens : null;

    public double? MsPerTokenB => Tokens is > 0 ? LatencyBMs / Tokens : null;

    /// <summary>One line with the corpus figures (the last line <c>compare</c> prints).</summary>
    public string Summary()
    {
        var mel = MelDistance is { } m ? F(m, "0.00") + " dB" : "n/a";
        var durations = DurationMismatches is { } d ? $", durations differing {d}/{Tokens} tokens ({Options.Alignment.ToString().ToLowerInvariant()} alignment)" : string.Empty;
        var perToken = MsPerTokenA is { } pa && MsPerTokenB is { } pb ? $" ({F(pa, "0.00")} and {F(pb, "0.00")} ms per token)" : string.Empty;
        return $"{Kind} {PrecisionB} vs {PrecisionA}: snr_db={F(SnrDb, "0.0")} (min {F(SnrDbMin, "0.0")}), mel_distance={mel}, latency a={F(LatencyAMs, "0")} ms b={F(LatencyBMs, "0")} ms{perToken} latency_ratio={F(LatencyRatio, "0.00")} over {Utterances.Count} utterances{durations}";
    }

    internal static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}

/// <summary><c>./mesh models compare</c>: the fidelity and latency of package b against package a on a text corpus.</summary>
public static class PackageComparison
{
    private const string Header = "  #   snr dB  mel dB     a ms     b ms   b/a  dur≠  text";

    public static async Task<ComparisonResult> RunAsync(ComparisonOptions options, TextWriter? log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Repeats < 1)
        {
            throw new ArgumentException("--repeats must be at least 1.", nameof(options));
        }

        foreach (var (option, package) in new[] { ("--a", options.A), ("--b", options.B) })
        {
            if (!Directory.Exists(package))
            {
                throw new ArgumentException($"{option} {package} is not a directory.", nameof(options));
            }
        }

        if (!File.Exists(options.Corpus))
        {
            throw new ArgumentException($"--corpus {options.Corpus} is not a file.", nameof(options));
        }

        var lines = File.ReadLines(options.Corpus).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (options.Limit > 0)
        {
            lines = [.. lines.Take(options.Limit)];
        }

        if (lines.Length == 0)
        {
            throw new ArgumentException($"--corpus {options.Corpus} has no text.", nameof(options));
        }

        using var a = await PackageSynthesizer.OpenAsync(options.A, options.Engine, options.Voice, cancellationToken);
        using var b = await PackageSynthesizer.OpenAsync(options.B, options.Engine, options.Voice, cancellationToken);
        if (a.Kind != b.Kind || a.SampleRate != b.SampleRate)
        {
            throw new ArgumentException($"a is {a.Kind} at {a.SampleRate} Hz, b is {b.Kind} at {b.SampleRate} Hz: only the same model can be compared.", nameof(options));
        }

        // Warm-up: neither package meets its first run (allocation, kernel selection, prepacking) on a measured utterance.
        var warm = await a.RenderAsync(lines[0], null, cancellationToken);
        await b.RenderAsync(lines[0], Forced(options, warm), cancellationToken);

        log?.WriteLine(Header);
        bool? deterministic = options.Repeats > 1 ? true : null;
        var results = new List<UtteranceComparison>();
        for (var i = 0; i < lines.Length; i++)
        {
            var ra = await a.RenderAsync(lines[i], null, cancellationToken);
            var rb = await b.RenderAsync(lines[i], Forced(options, ra), cancellationToken);
            var latencyA = new List<double> { ra.Latency.TotalMilliseconds };
            var latencyB = new List<double> { rb.Latency.TotalMilliseconds };
            for (var r = 1; r < options.Repeats; r++)
            {
                // Alternate the order so neither package always runs second (warm caches, clock drift).
                var first = r % 2 == 1 ? b : a;
                var second = first == a ? b : a;
                var x = await first.RenderAsync(lines[i], first == b ? Forced(options, ra) : null, cancellationToken);
                var y = await second.RenderAsync(lines[i], second == b ? Forced(options, ra) : null, cancellationToken);
                var (again, other) = first == a ? (x, y) : (y, x);
                latencyA.Add(again.Latency.TotalMilliseconds);
                latencyB.Add(other.Latency.TotalMilliseconds);
                if (!again.Samples.AsSpan().SequenceEqual(ra.Samples) || !other.Samples.AsSpan().SequenceEqual(rb.Samples))
                {
                    deterministic = false;
                }
            }

            int? mismatches = ra.Durations is { } da && rb.Durations is { } db
                ? da.Length == db.Length ? da.Where((d, t) => d != db[t]).Count() : Math.Max(da.Length, db.Length)
                : null;
            var comparison = new UtteranceComparison(
                i + 1,
                lines[i],
                ra.Samples.Length,
                rb.Samples.Length,
                AudioFidelity.Snr(ra.Samples, rb.Samples),
                a.SampleRate > 0 ? AudioFidelity.MelDistance(ra.Samples, rb.Samples, a.SampleRate) : null,
                Median(latencyA),
                Median(latencyB),
                mismatches,
                ra.Tokens);
            results.Add(comparison);
            log?.WriteLine(Row(comparison));
        }

        return new ComparisonResult(options, a.Kind, a.SampleRate, a.Precision, b.Precision, a.Voice, deterministic, results);
    }

    public static void WriteJson(ComparisonResult result, string path, string? png)
    {
        ArgumentNullException.ThrowIfNull(result);
        using var file = File.Create(path);
        using var json = new Utf8JsonWriter(file, ModelFiles.Json);
        json.WriteStartObject();
        json.WriteString("a", Path.GetFullPath(result.Options.A));
        json.WriteString("b", Path.GetFullPath(result.Options.B));
        json.WriteString("corpus", Path.GetFullPath(result.Options.Corpus));
        json.WriteString("kind", result.Kind);
        json.WriteString("precision_a", result.PrecisionA);
        json.WriteString("precision_b", result.PrecisionB);
        json.WriteString("provider", result.Options.Engine.ExecutionProvider.ToString().ToLowerInvariant());
        json.WriteNumber("sample_rate", result.SampleRate);
        Nullable(json, "voice", result.Voice);
        json.WriteNumber("utterances", result.Utterances.Count);
        json.WriteNumber("repeats", result.Options.Repeats);
        json.WriteString("alignment", result.Options.Alignment.ToString().ToLowerInvariant());
        if (result.Deterministic is { } deterministic)
        {
            json.WriteBoolean("deterministic", deterministic);
        }

        json.WriteNumber("snr_db", Round(result.SnrDb));
        json.WriteNumber("snr_db_min", Round(result.SnrDbMin));
        json.WriteNumber("snr_db_mean", Round(result.SnrDbMean));
        NullableNumber(json, "mel_distance", result.MelDistance);
        json.WriteNumber("latency_a_ms", Round(result.LatencyAMs));
        json.WriteNumber("latency_b_ms", Round(result.LatencyBMs));
        json.WriteNumber("latency_ratio", Round(result.LatencyRatio, 4));
        NullableNumber(json, "duration_mismatches", result.DurationMismatches);
        NullableNumber(json, "tokens", result.Tokens);
        NullableNumber(json, "ms_per_token_a", result.MsPerTokenA);
        NullableNumber(json, "ms_per_token_b", result.MsPerTokenB);
        Nullable(json, "png", png is null ? null : Path.GetFullPath(png));
        json.WriteString("snr_note", "10·log10(Σa² / Σ(a−b)²), the shorter rendering padded with silence; pooled over the corpus; 300 means identical");
        json.WriteString("mel_note", "per frame the RMS over 80 HTK mel bands of the difference of the log-mel power spectra (dB; FFT 1024, hop 256, Hann), averaged over frames");
        json.WriteStartArray("per_utterance");
        foreach (var u in result.Utterances)
        {
            json.WriteStartObject();
            json.WriteNumber("index", u.Index);
            json.WriteString("text", u.Text);
            json.WriteNumber("samples_a", u.SamplesA);
            json.WriteNumber("samples_b", u.SamplesB);
            json.WriteNumber("snr_db", Round(u.Snr.Db));
            NullableNumber(json, "mel_distance", u.Mel?.Db);
            json.WriteNumber("latency_a_ms", Round(u.LatencyAMs));
            json.WriteNumber("latency_b_ms", Round(u.LatencyBMs));
            json.WriteNumber("latency_ratio", Round(u.LatencyRatio, 4));
            NullableNumber(json, "duration_mismatches", u.DurationMismatches);
            NullableNumber(json, "tokens", u.Tokens);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static long[]? Forced(ComparisonOptions options, Rendering reference) =>
        options.Alignment == DurationAlignment.Forced ? reference.Durations : null;

    private static string Row(UtteranceComparison u)
    {
        var text = u.Text.Length > 48 ? u.Text[..47] + "…" : u.Text;
        var mel = u.Mel is { } m ? ComparisonResult.F(m.Db, "0.00") : "-";
        var durations = u.DurationMismatches is { } d ? $"{d}/{u.Tokens}" : "-";
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{u.Index,3}  {u.Snr.Db,7:0.0}  {mel,6}  {u.LatencyAMs,7:0.0}  {u.LatencyBMs,7:0.0}  {u.LatencyRatio,4:0.00}  {durations,4}  {text}");
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values.Count % 2 == 1 ? values[values.Count / 2] : (values[(values.Count / 2) - 1] + values[values.Count / 2]) / 2;
    }

    private static double Round(double value, int digits = 3) => Math.Round(value, digits);

    private static void Nullable(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }

    private static void NullableNumber(Utf8JsonWriter json, string name, double? value)
    {
        if (value is { } v)
        {
            json.WriteNumber(name, Round(v));
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
