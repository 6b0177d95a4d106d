using Mesh.Backend.Quantizer;

namespace Mesh.Backend.Engine;

public enum ExecutionProviderKind
{
    Cpu,
    Cuda,
}

/// <summary>ONNX Runtime's graph optimization level (<c>GRAPH_OPTIMIZATION</c>).</summary>
public enum GraphOptimization
{
    All,
    Extended,
    Basic,
    Disabled,
}

/// <summary>cuDNN convolution algorithm search (<c>cudnn_conv_algo_search</c>).</summary>
public enum ConvAlgoSearch
{
    /// <summary>Picks an algorithm from cuDNN's heuristics: no per-shape benchmarking, which suits dynamic TTS lengths.</summary>
    Heuristic,

    /// <summary>Benchmarks every algorithm for each new input shape (ONNX Runtime's default).</summary>
    Exhaustive,

    /// <summary>cuDNN's default algorithm (FALLBACK mode since ONNX Runtime 1.20; can be much slower).</summary>
    Default,
}

[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720", Justification = "The QUANTIZE value.")]
public enum Quantization
{
    None,
    Int8,
}

/// <summary>How the engine runs a model: provider, optimization, workers, and the CUDA provider's options.</summary>
public sealed record EngineSettings
{
    public ExecutionProviderKind ExecutionProvider { get; init; } = ExecutionProviderKind.Cuda;

    public GraphOptimization GraphOptimization { get; init; } = GraphOptimization.All;

    /// <summary>Concurrent inference workers, each on its own thread with its own bindings (and CUDA stream).</summary>
    public int Workers { get; init; } = 1;

    /// <summary><c>int8</c> rewrites MatMul weights to MatMulNBits at load (<see cref="QuantizeOptions"/>), cached on disk.</summary>
    public Quantization Quantize { get; init; } = Quantization.None;

    /// <summary>
    /// <c>FUSE_MATMULS</c>: on the CUDA provider, fp32 graphs get their added MatMul pairs joined
    /// (<see cref="SiblingMatMulFusion"/>) and their remaining MatMuls over slices of one tensor stacked into one batched
    /// MatMul (<see cref="StackedMatMulFusion"/>), in memory at load (<see cref="MatMulFusions"/>); int8 graphs get the pairs joined by the quantizer on either
    /// provider (this value overrides <see cref="QuantizationOptions.FuseSiblingMatMuls"/>). Fewer,
    /// larger GEMMs: fewer launches on a decode step's critical path.
    /// </summary>
    public bool FuseMatMuls { get; init; } = true;

    /// <summary>Block size, symmetry and size threshold of <c>QUANTIZE=int8</c>.</summary>
    public QuantizationOptions QuantizeOptions { get; init; } = QuantizationOptions.Default;

    /// <summary>Where quantized graphs are cached; null: <see cref="QuantizedModelCache.DefaultDirectory"/>.</summary>
    public string? QuantizeCacheDirectory { get; init; }

    /// <summary>
    /// On the CUDA provider, whether anything may run on the CPU: false refuses the provider fallback (no usable GPU is a
    /// load error) and sets <c>session.disable_cpu_ep_fallback</c>, so a node without a CUDA kernel fails the load instead
    /// of running on the CPU behind Memcpy nodes. GPU checks of INT8 graphs run with it off.
    /// </summary>
    public bool CpuFallback { get; init; } = true;

    /// <summary>
    /// CUDA graph capture: each bucketed stage captures one graph per bucket on each worker's thread at load, and runs
    /// replay them. Stages without buckets (data-dependent shapes) run eagerly.
    /// </summary>
    public bool CudaGraphs { get; init; }

    /// <summary>
    /// Shape buckets per stage (<c>CUDA_GRAPH_BUCKETS</c>). Empty: <see cref="GraphBucketing.Defaults"/> under
    /// <see cref="CudaGraphs"/> where a stage declares their dimension, no bucketing otherwise. Bucketed stages bind fixed
    /// buffers whether or not graphs are captured.
    /// </summary>
    public IReadOnlyList<GraphBucketing> GraphBuckets { get; init; } = [];

    public int CudaDeviceId { get; init; }

    /// <summary>TF32 matmuls are ONNX Runtime's default on Ampere and newer; off keeps fp32 results bit-stable.</summary>
    public bool CudaTf32 { get; init; }

    public ConvAlgoSearch CudnnConvAlgoSearch { get; init; } = ConvAlgoSearch.Heuristic;

    /// <summary>Caps the CUDA provider's arena; 0 leaves it unbounded.</summary>
    public long GpuMemLimitBytes { get; init; }

    /// <summary>Intra-op threads per session on the CPU provider; 0 lets ONNX Runtime use every core.</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>The CPU provider with defaults: what tests and tools use.</summary>
    public static EngineSettings Cpu { get; } = new() { ExecutionProvider = ExecutionProviderKind.Cpu };

    /// <summary>Parses a configuration value such as <c>cuda</c>, <c>ALL</c> or <c>int8</c> into one of the enums above.</summary>
    public static T ParseOption<T>(string value, string name)
        where T : struct, Enum
    {
        if (!Enum.TryParse<T>(value, ignoreCase: true, out var parsed) || int.TryParse(value, out _))
        {
            var allowed = string.Join("|", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()));
            throw new ArgumentException($"{name} '{value}' is not one of {allowed}.", nameof(value));
        }

        return parsed;
    }

    /// <summary>
    /// The buckets <paramref name="graph"/> runs on with <paramref name="signature"/> on <paramref name="provider"/>, or null
    /// when it runs unbucketed. Configured buckets apply by name, and a graph they do not fit fails its load with the reason;
    /// the defaults apply only where the graph's inputs declare their dimension and no other dynamic one.
    /// </summary>
    public GraphBucketing? BucketsFor(string graph, ModelSignature signature, ExecutionProviderKind provider)
    {
        ArgumentNullException.ThrowIfNull(signature);
        return BucketsNamedFor(graph, provider) is { } named && (GraphBuckets.Count > 0 || named.Misfit(signature) is null) ? named : null;
    }

    /// <summary>
    /// The buckets configured or, under <see cref="CudaGraphs"/>, defaulted for a graph of that name, whatever its inputs.
    /// The defaults serve graph capture, so the CPU provider buckets only what is configured explicitly.
    /// </summary>
    internal GraphBucketing? BucketsNamedFor(string graph, ExecutionProviderKind provider) =>
        (GraphBuckets.Count > 0 ? GraphBuckets : CudaGraphs && provider == ExecutionProviderKind.Cuda ? GraphBucketing.Defaults : [])
            .FirstOrDefault(b => b.Graph == graph);

    public void Validate()
    {
        foreach (var bucketing in GraphBuckets)
        {
            bucketing.Validate();
        }

        if (Workers is < 1 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(Workers), Workers, "WORKERS must be 1..64.");
        }

        if (GpuMemLimitBytes < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(GpuMemLimitBytes), GpuMemLimitBytes, "The GPU memory limit cannot be negative.");
        }

        QuantizeOptions.Validate();
    }
}
