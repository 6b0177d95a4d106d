using System.ComponentModel.DataAnnotations;
using Mesh.Backend.Engine;
using Mesh.Contracts;
using Mesh.Contracts.Http;

namespace Mesh.Backend.Host;

/// <summary>Engine settings under their seed-compatible environment names (MODEL, DEFAULT_VOICE, ...).</summary>
public sealed class EngineOptions
{
    /// <summary><c>espeak</c> (built in) or a model package directory.</summary>
    [ConfigurationKeyName("MODEL")]
    [Required]
    public string Model { get; set; } = "espeak";

    [ConfigurationKeyName("DEFAULT_VOICE")]
    [Required]
    public string DefaultVoice { get; set; } = "alloy";

    /// <summary>Load and warm up at start; otherwise the first request loads the model.</summary>
    [ConfigurationKeyName("PRELOAD_MODEL")]
    public bool PreloadModel { get; set; } = true;

    /// <summary>Unload the model after this many seconds without requests (0: never); the next request reloads it.</summary>
    [ConfigurationKeyName("IDLE_UNLOAD_SECONDS")]
    [Range(0, 86400)]
    public int IdleUnloadSeconds { get; set; }

    /// <summary>A request that has not produced its first byte by then gets 504.</summary>
    [ConfigurationKeyName("REQUEST_TIMEOUT_SECONDS")]
    [Range(1, 3600)]
    public int RequestTimeoutSeconds { get; set; } = 120;

    /// <summary><c>cuda</c> falls back to <c>cpu</c> (logged, and exported as a metric label) when no GPU is usable.</summary>
    [ConfigurationKeyName("EXECUTION_PROVIDER")]
    [RegularExpression("^(?i)(cuda|cpu)$")]
    public string ExecutionProvider { get; set; } = "cuda";

    /// <summary>ONNX Runtime's graph optimization level.</summary>
    [ConfigurationKeyName("GRAPH_OPTIMIZATION")]
    [RegularExpression("^(?i)(all|extended|basic|disabled)$")]
    public string GraphOptimization { get; set; } = "all";

    /// <summary>Concurrent inference workers, each on its own thread (and CUDA stream).</summary>
    [ConfigurationKeyName("WORKERS")]
    [Range(1, 64)]
    public int Workers { get; set; } = 1;

    /// <summary><c>int8</c>: MatMul weights become MatMulNBits at load (quantized once, then cached by content hash).</summary>
    [ConfigurationKeyName("QUANTIZE")]
    [RegularExpression("^(?i)(none|int8)$")]
    public string Quantize { get; set; } = "none";

    /// <summary>Fewer, larger GEMMs: on CUDA, fp32 graphs join added MatMul pairs and stack independent MatMuls over one tensor's slices at load; int8 graphs join the pairs.</summary>
    [ConfigurationKeyName("FUSE_MATMULS")]
    public bool FuseMatMuls { get; set; } = true;

    /// <summary>Where QUANTIZE=int8 caches quantized graphs; empty: <c>$XDG_CACHE_HOME/mesh/quantized</c> or <c>~/.cache/mesh/quantized</c>.</summary>
    [ConfigurationKeyName("QUANTIZE_CACHE_DIR")]
    public string QuantizeCacheDir { get; set; } = string.Empty;

    /// <summary>false: on the CUDA provider nothing may run on the CPU (no provider fallback, no CPU nodes); the load fails instead.</summary>
    [ConfigurationKeyName("CPU_FALLBACK")]
    public bool CpuFallback { get; set; } = true;

    /// <summary>Captures one CUDA graph per shape bucket of each bucketed stage at load; readiness waits for every capture.</summary>
    [ConfigurationKeyName("CUDA_GRAPHS")]
    public bool CudaGraphs { get; set; }

    /// <summary>Shape buckets per stage, <c>GRAPH.DIMENSION=SIZE,...;...</c>; empty: the defaults under CUDA_GRAPHS=true.</summary>
    [ConfigurationKeyName("CUDA_GRAPH_BUCKETS")]
    [GraphBuckets]
    public string CudaGraphBuckets { get; set; } = string.Empty;

    [ConfigurationKeyName("CUDA_DEVICE_ID")]
    [Range(0, 63)]
    public int CudaDeviceId { get; set; }

    /// <summary>TF32 matmuls on Ampere and newer; off keeps fp32 models bit-stable.</summary>
    [ConfigurationKeyName("CUDA_TF32")]
    public bool CudaTf32 { get; set; }

    [ConfigurationKeyName("CUDNN_CONV_ALGO_SEARCH")]
    [RegularExpression("^(?i)(heuristic|exhaustive|default)$")]
    public string CudnnConvAlgoSearch { get; set; } = "heuristic";

    /// <summary>Caps the CUDA arena of each session; 0 leaves it unbounded.</summary>
    [ConfigurationKeyName("GPU_MEM_LIMIT_MB")]
    [Range(0, 1 << 20)]
    public int GpuMemLimitMb { get; set; }

    /// <summary>The engine's view of these settings (validated already, so parsing cannot fail).</summary>
    public EngineSettings ToEngineSettings() => new()
    {
        ExecutionProvider = EngineSettings.ParseOption<ExecutionProviderKind>(ExecutionProvider, "EXECUTION_PROVIDER"),
        GraphOptimization = EngineSettings.ParseOption<GraphOptimization>(GraphOptimization, "GRAPH_OPTIMIZATION"),
        Workers = Workers,
        Quantize = EngineSettings.ParseOption<Quantization>(Quantize, "QUANTIZE"),
        FuseMatMuls = FuseMatMuls,
        QuantizeCacheDirectory = string.IsNullOrWhiteSpace(QuantizeCacheDir) ? null : QuantizeCacheDir,
        CpuFallback = CpuFallback,
        CudaGraphs = CudaGraphs,
        GraphBuckets = GraphBucketing.Parse(CudaGraphBuckets),
        CudaDeviceId = CudaDeviceId,
        CudaTf32 = CudaTf32,
        CudnnConvAlgoSearch = EngineSettings.ParseOption<ConvAlgoSearch>(CudnnConvAlgoSearch, "CUDNN_CONV_ALGO_SEARCH"),
        GpuMemLimitBytes = GpuMemLimitMb * 1024L * 1024L,
    };
}

/// <summary>Who this backend is in the fleet (section <c>Backend</c>).</summary>
public sealed class BackendOptions
{
    public const string Section = "Backend";

    /// <summary>Reported in <c>X-Mesh-Backend</c> and the <c>backend</c> metric label.</summary>
    [Required]
    [RegularExpression(MeshNames.Pattern)]
    public string Name { get; set; } = "backend";

    [Required]
    [RegularExpression(MeshNames.Pattern)]
    public string Variant { get; set; } = "default";
}

/// <summary>How far a stream may run ahead of its reader in the kernel (section <c>Streaming</c>).</summary>
public sealed class StreamingSettings : StreamBufferOptions
{
    public const string Section = "Streaming";
}

/// <summary>The backend's shutdown timing (section <c>Shutdown</c>).</summary>
public sealed class ShutdownSettings : ShutdownOptions
{
    public const string Section = "Shutdown";
}

/// <summary>Pipeline and queue settings (section <c>Pipeline</c>).</summary>
public sealed class PipelineSettings
{
    public const string Section = "Pipeline";

    /// <summary>Sentences on the engine ahead of the one streaming out.</summary>
    [Range(0, 16)]
    public int Lookahead { get; set; } = 2;

    /// <summary>Text without sentence punctuation is cut at clause boundaries or spaces to stay under this.</summary>
    [Range(50, 2000)]
    public int MaxSentenceLength { get; set; } = 300;

    /// <summary>Realtime requests admitted at once; more get 429.</summary>
    [Range(1, 100_000)]
    public int MaxActiveRealtime { get; set; } = 64;

    /// <summary>Batch requests admitted at once; more get 429.</summary>
    [Range(1, 100_000)]
    public int MaxActiveBatch { get; set; } = 16;
}
