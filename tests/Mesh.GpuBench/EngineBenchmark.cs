using System.Diagnostics;
using Mesh.Backend.Engine;
using Mesh.Backend.Quantizer;
using Mesh.ModelGeneration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;

namespace Mesh.GpuBench;

/// <summary>How a configuration runs a model.</summary>
internal enum RunMode
{
    /// <summary>The CPU provider, plain <c>Run</c>: the reference outputs.</summary>
    Cpu,

    /// <summary>CUDA provider, <c>Run</c> with host tensors: ONNX Runtime copies in, allocates and copies out each run.</summary>
    CudaPlain,

    /// <summary>The engine's bucketed stages on fixed device buffers (recurrent state stays on the device), no graphs.</summary>
    CudaIoBinding,

    /// <summary>As <see cref="CudaIoBinding"/>, replaying one captured CUDA graph per bucket.</summary>
    CudaGraph,
}

/// <summary>
/// Times ref-ar (per decode step, batch 1 and 16) and ref-staged (per utterance: encoder, host-side expansion, decoder) in
/// every <see cref="RunMode"/> and precision, host copies included, medians after warm-up; checks CUDA outputs against the CPU's.
/// </summary>
internal sealed class EngineBenchmark(BenchOptions options, TextWriter log)
{
    private const int Warmup = 20;
    private const int Compared = 8;
    private const string Buckets = "step.batch=1,4,16;encoder.tokens=8,32;decoder.frames=32,64,128,256";
    private static readonly int[] Batches = [1, 16];
    // A sentence and a short clause: the graphs save launch overhead, a share that shrinks as the decoder's work grows.
    private static readonly (string Name, long[] Tokens)[] Utterances = [("ref_staged", Tokens(24)), ("ref_staged_clause", Tokens(8))];

    private readonly BenchReport _report = new();

    private bool OnGpu => options.Provider == ExecutionProviderKind.Cuda;

    public async Task<BenchReport> RunAsync(CancellationToken cancellationToken)
    {
        _report.Device = OnGpu ? GpuName() : "cpu dry run (no GPU)";
        _report.OrtVersion = OrtEnv.Instance().GetVersionString();
        log.WriteLine($"device: {_report.Device}; ONNX Runtime {_report.OrtVersion}; models in {options.ModelsDirectory}");
        var (ar, staged) = EnsureModels(options.ModelsDirectory, log);
        var cpuOutputs = new Dictionary<string, float[]?>(StringComparer.Ordinal);

        foreach (var precision in new[] { Precisions.Fp32, Precisions.Int8 })
        {
            var step = Graph(Path.Combine(ar, "step.onnx"), precision);
            foreach (var batch in Batches)
            {
                float[]? reference = null;
                foreach (var mode in Enum.GetValues<RunMode>())
                {
                    reference = await MeasureAsync($"ref_ar/batch{batch}/{precision}/{Name(mode)}", mode, () => DecodeAsync(step, mode, batch, cancellationToken), reference);
                }

                cpuOutputs.TryAdd($"ref_ar/batch{batch}", reference);
            }

            GraphFile[] stages = [new("encoder", Graph(Path.Combine(staged, "encoder.onnx"), precision)), new("decoder", Graph(Path.Combine(staged, "decoder.onnx"), precision))];
            foreach (var (name, tokens) in Utterances)
            {
                float[]? audio = null;
                foreach (var mode in Enum.GetValues<RunMode>())
                {
                    audio = await MeasureAsync($"{name}/{precision}/{Name(mode)}", mode, () => UtterancesAsync(stages, tokens, mode, cancellationToken), audio);
                }

                cpuOutputs.TryAdd(name, audio);
            }
        }

        // The int8 step with each layer's two projections kept apart: what joining them (SiblingMatMulFusion) saves.
        var apart = Quantized(Path.Combine(ar, "step.onnx"), QuantizationOptions.Default with { FuseSiblingMatMuls = false });
        foreach (var batch in Batches)
        {
            await MeasureAsync($"ref_ar/batch{batch}/int8_apart/cuda_graph", RunMode.CudaGraph, () => DecodeAsync(apart, RunMode.CudaGraph, batch, cancellationToken), null);
        }

        // The fp32 step without the engine's MatMul fusions (FUSE_MATMULS=false), and with the state projections stacked
        // instead of each layer's pair joined: what the fusions save, and against the alternative.
        var fp32 = Path.Combine(ar, "step.onnx");
        var stacked = StackedOnly(fp32);
        foreach (var batch in Batches)
        {
            var reference = cpuOutputs[$"ref_ar/batch{batch}"];
            await MeasureAsync($"ref_ar/batch{batch}/fp32_apart/cuda_graph", RunMode.CudaGraph, () => DecodeAsync(fp32, RunMode.CudaGraph, batch, cancellationToken, Unfused), reference);
            await MeasureAsync($"ref_ar/batch{batch}/fp32_stacked/cuda_graph", RunMode.CudaGraph, () => DecodeAsync(stacked, RunMode.CudaGraph, batch, cancellationToken, Unfused), reference);
        }

        // CUDA_TF32=true: fp32 matmuls on tensor cores with TF32's 10-bit mantissa. Its error against the CPU is reported but
        // not held to fp32's bound, so it is no candidate for the best configuration.
        Func<EngineSettings, EngineSettings> tf32 = s => s with { CudaTf32 = true };
        await MeasureAsync("ref_ar/batch16/tf32/cuda_graph", RunMode.CudaGraph, () => DecodeAsync(fp32, RunMode.CudaGraph, 16, cancellationToken, tf32), cpuOutputs["ref_ar/batch16"]);
        GraphFile[] fp32Stages = [new("encoder", Path.Combine(staged, "encoder.onnx")), new("decoder", Path.Combine(staged, "decoder.onnx"))];
        foreach (var mode in new[] { RunMode.CudaIoBinding, RunMode.CudaGraph })
        {
            var (name, tokens) = Utterances[0];
            await MeasureAsync($"{name}/tf32/{Name(mode)}", mode, () => UtterancesAsync(fp32Stages, tokens, mode, cancellationToken, tf32), cpuOutputs[name]);
        }

        await MeasureWorkersAsync(Path.Combine(ar, "step.onnx"), cancellationToken);
        _report.Summarize(options.TorchResults);
        return _report;
    }

    /// <summary>ref-ar and ref-staged under <paramref name="directory"/>, generated when missing.</summary>
    public static (string Ar, string Staged) EnsureModels(string directory, TextWriter log)
    {
        var ar = Path.Combine(directory, ModelGenerator.RefAr);
        var staged = Path.Combine(directory, ModelGenerator.RefStaged);
        if (!File.Exists(Path.Combine(ar, "step.onnx")) || !File.Exists(Path.Combine(staged, "decoder.onnx")))
        {
            ModelGenerator.Generate(directory, [ModelGenerator.RefAr, ModelGenerator.RefStaged], log);
        }

        return (ar, staged);
    }

    private static string Name(RunMode mode) => mode switch
    {
        RunMode.Cpu => "cpu",
        RunMode.CudaPlain => "cuda_plain",
        RunMode.CudaIoBinding => "cuda_iobinding",
        _ => "cuda_graph",
    };

    /// <summary>
    /// Runs one configuration and returns the reference for the next (the CPU's outputs); a failure is recorded and the
    /// run goes on with the next configuration.
    /// </summary>
    private async Task<float[]?> MeasureAsync(string key, RunMode mode, Func<Task<Measurement>> measure, float[]? reference)
    {
        Measurement result;
        try
        {
            result = await measure();
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or EngineLoadException or InvalidOperationException or ArgumentException)
        {
            _report.Fail(key, ex.Message);
            log.WriteLine($"{key,-36} FAILED: {ex.Message}");
            return reference;
        }

        double? error = mode == RunMode.Cpu || reference is null ? null : RelativeError(result.Output, reference);
        _report.Add(key, result.MedianMs, error);
        if (result.CapturedGraphs is { } captured)
        {
            _report.Check($"{key}: graphs captured and replayed", captured > 0 && result.Replays >= result.Runs, $"{captured} graphs, {result.Replays} replays of {result.Runs} runs");
        }

        _report.AddRoutes(key, result.Graphs);

        log.WriteLine(string.Create(
            System.Globalization.CultureInfo.InvariantCulture,
            $"{key,-36} {result.MedianMs,9:0.000} ms   rel. error vs cpu {(error is { } e ? e.ToString("0.0e+0", System.Globalization.CultureInfo.InvariantCulture) : "-")}"));
        return mode == RunMode.Cpu ? result.Output : reference;
    }

    /// <summary>The graph file for <paramref name="precision"/>: int8 through the engine's own quantizer and cache.</summary>
    private string Graph(string path, string precision) => precision == Precisions.Int8 ? Quantized(path, QuantizationOptions.Default) : path;

    private string Quantized(string path, QuantizationOptions quantization) =>
        QuantizedModelCache.Prepare(path, quantization, Path.Combine(options.ModelsDirectory, "quantized")).CachedPath
            ?? throw new InvalidOperationException($"The int8 graph of {path} could not be cached.");

    /// <summary>ref-ar's fp32 step with its 24 state projections stacked into one batched MatMul (no pair joined), written beside it.</summary>
    private static string StackedOnly(string path)
    {
        var model = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        if (StackedMatMulFusion.Apply(model, QuantizationOptions.DefaultMinDimension) != RefAr.Layers)
        {
            throw new InvalidOperationException($"ref-ar's {RefAr.Layers} state projections were not stacked.");
        }

        var stacked = Path.ChangeExtension(path, ".stacked.onnx");
        File.WriteAllBytes(stacked, Google.Protobuf.MessageExtensions.ToByteArray(model));
        return stacked;
    }

    private static EngineSettings Unfused(EngineSettings settings) => settings with { FuseMatMuls = false };

    private static EngineSettings Variant(EngineSettings settings, Func<EngineSettings, EngineSettings>? variant) => variant is null ? settings : variant(settings);

    private EngineSettings Settings(RunMode mode, int workers = 1) => new()
    {
        ExecutionProvider = OnGpu && mode != RunMode.Cpu ? ExecutionProviderKind.Cuda : ExecutionProviderKind.Cpu,
        CpuFallback = false,
        Workers = workers,
        GraphBuckets = mode is RunMode.CudaIoBinding or RunMode.CudaGraph ? GraphBucketing.Parse(Buckets) : [],
        CudaGraphs = mode == RunMode.CudaGraph,
    };

    private int StepsFor(RunMode mode) => mode == RunMode.Cpu || !OnGpu ? options.CpuSteps : options.Steps;

    private static long[] Tokens(int count) => [.. Enumerable.Range(0, count).Select(i => (long)((i * 37 + 11) % RefStaged.Vocabulary))];

    private static long Token(int step, int row) => ((step * 31) + (row * 7) + 1) % RefAr.Vocabulary;

    private Task<Measurement> DecodeAsync(
        string graph, RunMode mode, int batch, CancellationToken cancellationToken, Func<EngineSettings, EngineSettings>? variant = null)
    {
        var steps = StepsFor(mode);
        if (mode is RunMode.Cpu or RunMode.CudaPlain)
        {
            return Task.FromResult(PlainDecode(graph, mode, batch, steps));
        }

        var starting = InferenceEngine.CreateAsync(
            ModelGenerator.RefAr, [new GraphFile("step", graph)], Variant(Settings(mode), variant), null, NullLogger.Instance, cancellationToken);
        return RunOnEngineAsync(starting, worker =>
        {
            var step = (BucketedGraph)worker.Graph("step");
            var loop = step.StartDecode(batch);
            var tokens = new long[batch];
            return Timed(steps, Warmup, s =>
            {
                for (var r = 0; r < batch; r++)
                {
                    tokens[r] = Token(s, r);
                }

                return loop.Step(tokens)["logits"].ToFloats();
            }).Of([step]);
        }, cancellationToken);
    }

    /// <summary>Plain <c>Run</c> with host tensors; the state goes back through the host every step.</summary>
    private Measurement PlainDecode(string graph, RunMode mode, int batch, int steps)
    {
        using var session = PlainSession(graph, mode);
        using var runOptions = new RunOptions();
        var state = new float[RefAr.Layers * batch * RefAr.Width];
        var tokens = new long[batch];
        long[] tokenShape = [batch, 1], stateShape = [RefAr.Layers, batch, RefAr.Width];
        return Timed(steps, Warmup, s =>
        {
            for (var r = 0; r < batch; r++)
            {
                tokens[r] = Token(s, r);
            }

            using var token = OrtValue.CreateTensorValueFromMemory(tokens, tokenShape);
            using var current = OrtValue.CreateTensorValueFromMemory(state, stateShape);
            using var results = session.Run(runOptions, ["token", "state"], [token, current], ["logits", "next_state"]);
            results[1].GetTensorDataAsSpan<float>().CopyTo(state);
            return results[0].GetTensorDataAsSpan<float>().ToArray();
        });
    }

    private Task<Measurement> UtterancesAsync(
        GraphFile[] stages, long[] sentence, RunMode mode, CancellationToken cancellationToken, Func<EngineSettings, EngineSettings>? variant = null)
    {
        var runs = Math.Max(5, StepsFor(mode) / 3);
        if (mode is RunMode.Cpu or RunMode.CudaPlain)
        {
            using var encoder = PlainSession(stages[0].Path, mode);
            using var decoder = PlainSession(stages[1].Path, mode);
            return Task.FromResult(Timed(runs, 3, _ => Utterance(
                sentence,
                tokens => PlainRun(encoder, "tokens", tokens, [1, tokens.Length], ["hidden", "durations"]),
                frames => PlainRun(decoder, "frames", frames, [1, frames.Length / RefStaged.EncoderWidth, RefStaged.EncoderWidth], ["audio"])[0].ToFloats())));
        }

        var starting = InferenceEngine.CreateAsync(ModelGenerator.RefStaged, stages, Variant(Settings(mode), variant), null, NullLogger.Instance, cancellationToken);
        return RunOnEngineAsync(starting, worker =>
        {
            var encoder = (BucketedGraph)worker.Graph("encoder");
            var decoder = worker.Graph("decoder");
            var measured = Timed(runs, 3, _ => Utterance(
                sentence,
                tokens =>
                {
                    encoder.SetInput("tokens", tokens, [1, tokens.Length]);
                    var outputs = encoder.Run();
                    return [outputs["hidden"], outputs["durations"]];
                },
                frames =>
                {
                    decoder.SetInput("frames", frames, [1, frames.Length / RefStaged.EncoderWidth, RefStaged.EncoderWidth]);
                    return decoder.Run()["audio"].ToFloats();
                }));
            return measured.Of([encoder, (BucketedGraph)decoder]);
        }, cancellationToken);
    }

    /// <summary>One sentence: encoder, each token's row repeated by its duration on the host, decoder.</summary>
    private static float[] Utterance(long[] sentence, Func<long[], EngineTensor[]> encode, Func<float[], float[]> decode)
    {
        var encoded = encode(sentence);
        var hidden = encoded[0].ToFloats();
        var durations = encoded[1].ToInt64s();
        var width = RefStaged.EncoderWidth;
        var frames = new float[durations.Sum() * width];
        var offset = 0;
        for (var t = 0; t < durations.Length; t++)
        {
            for (var r = 0; r < durations[t]; r++, offset += width)
            {
                Array.Copy(hidden, t * width, frames, offset, width);
            }
        }

        return decode(frames);
    }

    /// <summary>
    /// WORKERS=2 against WORKERS=1: two streams decoding at once (batch 1, graphs), each on the next free worker and its
    /// own CUDA stream; throughput in steps per second.
    /// </summary>
    private async Task MeasureWorkersAsync(string graph, CancellationToken cancellationToken)
    {
        var steps = StepsFor(RunMode.CudaGraph);
        foreach (var workers in new[] { 1, 2 })
        {
            try
            {
                using var engine = await InferenceEngine.CreateAsync(
                    ModelGenerator.RefAr, [new GraphFile("step", graph)], Settings(RunMode.CudaGraph, workers), null, NullLogger.Instance, cancellationToken);
                var started = Stopwatch.GetTimestamp();
                var streams = Enumerable.Range(0, 4).Select(_ => engine.RunAsync(
                    worker =>
                    {
                        var loop = ((BucketedGraph)worker.Graph("step")).StartDecode(1);
                        for (var s = 0; s < steps; s++)
                        {
                            loop.Step([Token(s, 0)]);
                        }

                        return steps;
                    },
                    cancellationToken));
                var total = (await Task.WhenAll(streams)).Sum();
                var perSecond = total / Stopwatch.GetElapsedTime(started).TotalSeconds;
                _report.Workers[workers] = perSecond;
                log.WriteLine($"ref_ar/batch1/fp32/cuda_graph WORKERS={workers}: {perSecond:0} steps/s (4 streams)");
            }
            catch (Exception ex) when (ex is OnnxRuntimeException or EngineLoadException or InvalidOperationException)
            {
                _report.Fail($"workers{workers}", ex.Message);
            }
        }
    }

    private static async Task<Measurement> RunOnEngineAsync(Task<InferenceEngine> starting, Func<InferenceWorker, Measurement> work, CancellationToken cancellationToken)
    {
        using var engine = await starting;
        return await engine.RunAsync(work, cancellationToken);
    }

    private InferenceSession PlainSession(string path, RunMode mode)
    {
        var settings = Settings(mode);
        using var sessionOptions = SessionOptionsFactory.Create(settings, settings.ExecutionProvider, 0);
        return new InferenceSession(path, sessionOptions);
    }

    private static EngineTensor[] PlainRun<T>(InferenceSession session, string input, T[] values, long[] shape, string[] outputs)
        where T : unmanaged
    {
        using var runOptions = new RunOptions();
        using var value = OrtValue.CreateTensorValueFromMemory(values, shape);
        using var results = session.Run(runOptions, [input], [value], outputs);
        return [.. results.Select((r, i) => EngineTensor.CopyFrom(outputs[i], r))];
    }

    /// <summary>Runs <paramref name="run"/> <paramref name="warmup"/> + <paramref name="count"/> times; the first output is the compared one.</summary>
    private static Measurement Timed(int count, int warmup, Func<int, float[]> run)
    {
        var times = new List<double>(count);
        var compared = new List<float>();
        for (var i = 0; i < warmup + count; i++)
        {
            var started = Stopwatch.GetTimestamp();
            var output = run(i);
            var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (i < Compared)
            {
                compared.AddRange(output);
            }

            if (i >= warmup)
            {
                times.Add(elapsed);
            }
        }

        times.Sort();
        return new Measurement(times[times.Count / 2], [.. compared], warmup + count);
    }

    /// <summary>max |a − b| / max |b|: the error relative to the reference's scale.</summary>
    private static double RelativeError(float[] actual, float[] reference)
    {
        if (actual.Length != reference.Length)
        {
            return double.PositiveInfinity;
        }

        double worst = 0, scale = 0;
        for (var i = 0; i < actual.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(actual[i] - reference[i]));
            scale = Math.Max(scale, Math.Abs(reference[i]));
        }

        return scale == 0 ? worst : worst / scale;
    }

    private static string GpuName()
    {
        try
        {
            using var smi = Process.Start(new ProcessStartInfo("nvidia-smi", "--query-gpu=name --format=csv,noheader") { RedirectStandardOutput = true });
            var name = smi!.StandardOutput.ReadToEnd().Trim();
            smi.WaitForExit();
            return name.Length > 0 ? name.Split('\n')[0] : "unknown GPU";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown GPU (no nvidia-smi)";
        }
    }
}

/// <summary>One configuration's median time and the outputs of its first runs, compared with the CPU's.</summary>
internal sealed record Measurement(double MedianMs, float[] Output, long Runs)
{
    public int? CapturedGraphs { get; private init; }

    /// <summary>Replays of the stage that replayed least.</summary>
    public long Replays { get; private init; }

    /// <summary>The bucketed stages that ran, for their replay times and routes.</summary>
    public IReadOnlyList<BucketedGraph> Graphs { get; private init; } = [];

    /// <summary>This measurement with what <paramref name="stages"/> captured and replayed, read while their engine is up.</summary>
    public Measurement Of(IReadOnlyList<BucketedGraph> stages) => this with
    {
        CapturedGraphs = stages.Any(g => g.CapturesGraphs) ? stages.Sum(g => g.CapturedGraphs) : null,
        Replays = stages.Min(g => g.Replays),
        Graphs = stages,
    };
}
