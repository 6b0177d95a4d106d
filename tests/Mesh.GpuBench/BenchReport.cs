using System.Globalization;
using System.Text;
using System.Text.Json;
using Mesh.Backend.Engine;

namespace Mesh.GpuBench;

/// <summary>Medians, errors against the CPU, checks and the headline ratios of one run; written as JSON and Markdown.</summary>
internal sealed class BenchReport
{
    private static readonly string[] Modes = ["cpu", "cuda_plain", "cuda_iobinding", "cuda_graph"];
    private static readonly string[] TorchModes = ["eager", "reduce-overhead", "max-autotune"];
    private readonly SortedDictionary<string, double> _medians = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, double> _errors = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, string> _failures = new(StringComparer.Ordinal);
    private readonly List<(string Name, bool Passed, string Detail)> _checks = [];
    private readonly SortedDictionary<string, double> _figures = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, double> _torch = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, double> _replays = new(StringComparer.Ordinal);
    private readonly List<string> _redirects = [];
    private string? _bestBatch1;
    private string? _bestBatch16;

    public string Device { get; set; } = string.Empty;

    public string OrtVersion { get; set; } = string.Empty;

    /// <summary>Decode steps per second with 4 concurrent streams, by WORKERS.</summary>
    public SortedDictionary<int, double> Workers { get; } = [];

    public bool AllChecksPassed => _checks.All(c => c.Passed);

    public void Add(string key, double medianMs, double? relativeError)
    {
        _medians[key] = medianMs;
        if (relativeError is { } e)
        {
            _errors[key] = e;
        }
    }

    /// <summary>Each bucket's replay time at load (graph only, no copies), and the requests that ran on a larger bucket.</summary>
    public void AddRoutes(string key, IEnumerable<BucketedGraph> graphs)
    {
        var c = CultureInfo.InvariantCulture;
        foreach (var graph in graphs)
        {
            foreach (var route in graph.Routes)
            {
                _replays[$"{key}/{graph.Name}.{graph.Bucketing.Dimension}={route.Bucket}"] = route.ReplayMs;
                if (route.RunsOn != route.Bucket)
                {
                    _redirects.Add(string.Create(
                        c, $"{key}: {graph.Name} {graph.Bucketing.Dimension} {route.Bucket} runs on the {route.RunsOn} bucket (replay {route.RunsOnReplayMs:0.000} vs {route.ReplayMs:0.000} ms)"));
                }
            }
        }
    }

    public void Fail(string key, string message)
    {
        _failures[key] = message;
        Check($"{key} runs", false, message);
    }

    public void Check(string name, bool passed, string detail) => _checks.Add((name, passed, detail));

    /// <summary>The headline ratios (fast / slow, so higher is better), the torch comparison, and the error checks.</summary>
    public void Summarize(string? torchResults)
    {
        Ratio("ref_ar_fp32_graph_vs_fp32_plain", "ref_ar/batch1/fp32/cuda_plain", "ref_ar/batch1/fp32/cuda_graph");
        Ratio("ref_ar_int8_graph_vs_fp32_plain", "ref_ar/batch1/fp32/cuda_plain", "ref_ar/batch1/int8/cuda_graph");
        Ratio("ref_ar_int8_graph_vs_fp32_graph", "ref_ar/batch1/fp32/cuda_graph", "ref_ar/batch1/int8/cuda_graph");
        Ratio("ref_ar_int8_joined_vs_apart_graph", "ref_ar/batch1/int8_apart/cuda_graph", "ref_ar/batch1/int8/cuda_graph");
        Ratio("ref_ar_fp32_fused_vs_apart_graph", "ref_ar/batch1/fp32_apart/cuda_graph", "ref_ar/batch1/fp32/cuda_graph");
        Ratio("ref_ar_batch16_fp32_fused_vs_apart_graph", "ref_ar/batch16/fp32_apart/cuda_graph", "ref_ar/batch16/fp32/cuda_graph");
        Ratio("ref_ar_fp32_fused_vs_stacked_graph", "ref_ar/batch1/fp32_stacked/cuda_graph", "ref_ar/batch1/fp32/cuda_graph");
        Ratio("ref_ar_batch16_fp32_fused_vs_stacked_graph", "ref_ar/batch16/fp32_stacked/cuda_graph", "ref_ar/batch16/fp32/cuda_graph");
        Ratio("ref_ar_batch16_int8_graph_vs_fp32_graph", "ref_ar/batch16/fp32/cuda_graph", "ref_ar/batch16/int8/cuda_graph");
        Ratio("ref_staged_graph_vs_nograph", "ref_staged/fp32/cuda_iobinding", "ref_staged/fp32/cuda_graph");
        Ratio("ref_staged_graph_vs_plain", "ref_staged/fp32/cuda_plain", "ref_staged/fp32/cuda_graph");
        Ratio("ref_staged_int8_graph_vs_fp32_graph", "ref_staged/fp32/cuda_graph", "ref_staged/int8/cuda_graph");
        Ratio("ref_staged_tf32_graph_vs_nograph", "ref_staged/tf32/cuda_iobinding", "ref_staged/tf32/cuda_graph");
        Ratio("ref_staged_tf32_vs_fp32_graph", "ref_staged/fp32/cuda_graph", "ref_staged/tf32/cuda_graph");
        Ratio("ref_ar_batch16_tf32_vs_fp32_graph", "ref_ar/batch16/fp32/cuda_graph", "ref_ar/batch16/tf32/cuda_graph");
        Ratio("ref_staged_clause_graph_vs_nograph", "ref_staged_clause/fp32/cuda_iobinding", "ref_staged_clause/fp32/cuda_graph");
        var fp32 = _errors.Where(e => e.Key.Contains("/fp32", StringComparison.Ordinal)).Select(e => e.Value).DefaultIfEmpty(double.NaN).Max();
        var int8 = _errors.Where(e => e.Key.Contains("/int8/", StringComparison.Ordinal)).Select(e => e.Value).DefaultIfEmpty(double.NaN).Max();
        _figures["max_rel_error_vs_cpu"] = fp32;
        _figures["max_rel_error_int8_vs_cpu_int8"] = int8;
        _figures["max_rel_error_tf32_vs_cpu"] = _errors.Where(e => e.Key.Contains("/tf32/", StringComparison.Ordinal)).Select(e => e.Value).DefaultIfEmpty(double.NaN).Max();
        Check("fp32 CUDA outputs match the CPU provider (max rel. error <= 1e-3)", fp32 <= 1e-3, fp32.ToString("0.0e+0", CultureInfo.InvariantCulture));
        if (Workers.TryGetValue(1, out var one) && Workers.TryGetValue(2, out var two))
        {
            _figures["workers2_throughput_gain"] = two / one;
        }

        _bestBatch1 = Best(1);
        _bestBatch16 = Best(16);
        if (torchResults is not null && File.Exists(torchResults))
        {
            using var torch = JsonDocument.Parse(File.ReadAllText(torchResults));
            foreach (var batch in new[] { 1, 16 })
            {
                if (!torch.RootElement.TryGetProperty($"batch{batch}", out var timings))
                {
                    continue;
                }

                foreach (var mode in TorchModes.Where(m => timings.TryGetProperty(m, out _)))
                {
                    _torch[$"batch{batch}/{mode}"] = timings.GetProperty(mode).GetDouble();
                }

                var compiled = TorchModes.Skip(1).Where(m => _torch.ContainsKey($"batch{batch}/{m}")).Select(m => _torch[$"batch{batch}/{m}"]).DefaultIfEmpty(double.NaN).Min();
                var best = batch == 1 ? _bestBatch1 : _bestBatch16;
                if (best is not null && !double.IsNaN(compiled))
                {
                    _figures[$"vs_torch_best_batch{batch}"] = compiled / _medians[best];
                }
            }

            if (torch.RootElement.TryGetProperty("max_abs_vs_onnx_cpu", out var agreement))
            {
                _figures["torch_max_abs_vs_onnx_cpu"] = agreement.GetDouble();
            }
        }
    }

    public void Write(string directory, TextWriter log)
    {
        Directory.CreateDirectory(directory);
        var json = Path.Combine(directory, "gpu-engine.json");
        using (var file = File.Create(json))
        using (var writer = new Utf8JsonWriter(file, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("device", Device);
            writer.WriteString("onnxruntime", OrtVersion);
            foreach (var (name, value) in _figures)
            {
                WriteNumber(writer, name, value);
            }

            writer.WriteString("best_mesh_batch1", _bestBatch1);
            writer.WriteString("best_mesh_batch16", _bestBatch16);
            WriteSection(writer, "medians_ms", _medians);
            WriteSection(writer, "rel_error_vs_cpu", _errors);
            WriteSection(writer, "torch_ms", _torch);
            WriteSection(writer, "replay_ms_at_load", _replays);
            writer.WriteStartArray("bucket_redirects");
            foreach (var redirect in _redirects)
            {
                writer.WriteStringValue(redirect);
            }

            writer.WriteEndArray();
            writer.WriteStartObject("workers_steps_per_second");
            foreach (var (workers, perSecond) in Workers)
            {
                WriteNumber(writer, workers.ToString(CultureInfo.InvariantCulture), perSecond);
            }

            writer.WriteEndObject();
            writer.WriteStartArray("checks");
            foreach (var (name, passed, detail) in _checks)
            {
                writer.WriteStartObject();
                writer.WriteString("name", name);
                writer.WriteBoolean("passed", passed);
                writer.WriteString("detail", detail);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        var markdown = Markdown();
        File.WriteAllText(Path.Combine(directory, "gpu-results.md"), markdown);
        log.WriteLine();
        log.WriteLine(markdown);
        log.WriteLine($"wrote {json}");
    }

    private void Ratio(string name, string slow, string fast)
    {
        if (_medians.TryGetValue(slow, out var s) && _medians.TryGetValue(fast, out var f))
        {
            _figures[name] = s / f;
        }
    }

    /// <summary>The fastest CUDA configuration of ref-ar at <paramref name="batch"/> held to fp32's or int8's error (so not TF32).</summary>
    private string? Best(int batch) =>
        _medians.Where(m => m.Key.StartsWith($"ref_ar/batch{batch}/", StringComparison.Ordinal) && m.Key.Contains("/cuda_", StringComparison.Ordinal)
                && !m.Key.Contains("/tf32/", StringComparison.Ordinal))
            .OrderBy(m => m.Value).Select(m => m.Key).FirstOrDefault();

    private string Markdown()
    {
        var md = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        md.AppendLine(c, $"Device: **{Device}**, ONNX Runtime {OrtVersion}. Medians in ms, host copies included (ref-ar: one decode step; ref-staged: one 24-token sentence, ref-staged clause: 8 tokens, each encoder + expansion + decoder).");
        md.AppendLine();
        md.AppendLine("| model | precision | CPU provider | CUDA plain Run | CUDA IOBinding | CUDA IOBinding + graphs |");
        md.AppendLine("|---|---|---|---|---|---|");
        foreach (var model in new[] { "ref_ar/batch1", "ref_ar/batch16", "ref_staged", "ref_staged_clause" })
        {
            foreach (var precision in new[] { "fp32", "fp32_apart", "fp32_stacked", "tf32", "int8", "int8_apart" })
            {
                var cells = Modes.Select(m => _medians.TryGetValue($"{model}/{precision}/{m}", out var v) ? v.ToString("0.000", c) : _failures.ContainsKey($"{model}/{precision}/{m}") ? "failed" : "-").ToArray();
                if (cells.All(cell => cell == "-"))
                {
                    continue;
                }

                md.AppendLine(c, $"| {model.Replace("/", " ", StringComparison.Ordinal)} | {precision} | {string.Join(" | ", cells)} |");
            }
        }

        if (_torch.Count > 0)
        {
            md.AppendLine();
            md.AppendLine("| PyTorch, same ref-ar weights | " + string.Join(" | ", TorchModes) + " |");
            md.AppendLine("|---|---|---|---|");
            foreach (var batch in new[] { 1, 16 })
            {
                md.AppendLine(c, $"| batch {batch} | {string.Join(" | ", TorchModes.Select(m => _torch.TryGetValue($"batch{batch}/{m}", out var v) ? v.ToString("0.000", c) : "-"))} |");
            }
        }

        md.AppendLine();
        foreach (var (name, value) in _figures)
        {
            md.AppendLine(c, $"- `{name}`: {Format(value)}");
        }

        md.AppendLine(c, $"- best Mesh configuration: batch 1 `{_bestBatch1}`, batch 16 `{_bestBatch16}`");
        foreach (var (workers, perSecond) in Workers)
        {
            md.AppendLine(c, $"- WORKERS={workers}: {perSecond:0} decode steps/s over 4 concurrent streams (batch 1, graphs)");
        }

        foreach (var redirect in _redirects)
        {
            md.AppendLine(c, $"- {redirect}");
        }

        md.AppendLine();
        foreach (var (name, passed, detail) in _checks)
        {
            md.AppendLine(c, $"- [{(passed ? "x" : " ")}] {name} ({detail})");
        }

        return md.ToString();
    }

    private static string Format(double value) =>
        Math.Abs(value) < 0.01 ? value.ToString("0.0e+0", CultureInfo.InvariantCulture) : value.ToString("0.00", CultureInfo.InvariantCulture);

    private static void WriteNumber(Utf8JsonWriter writer, string name, double value)
    {
        if (double.IsFinite(value))
        {
            writer.WriteNumber(name, Math.Round(value, 6));
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    private static void WriteSection(Utf8JsonWriter writer, string name, SortedDictionary<string, double> values)
    {
        writer.WriteStartObject(name);
        foreach (var (key, value) in values)
        {
            WriteNumber(writer, key, value);
        }

        writer.WriteEndObject();
    }
}
