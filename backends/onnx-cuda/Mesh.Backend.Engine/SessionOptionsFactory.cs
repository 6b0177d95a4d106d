using System.Globalization;
using Microsoft.ML.OnnxRuntime;

namespace Mesh.Backend.Engine;

/// <summary>Session and provider options, set deliberately rather than left to ONNX Runtime's defaults.</summary>
public static class SessionOptionsFactory
{
    /// <summary>
    /// The CUDA provider options for one worker's session (<paramref name="stream"/> 0: ONNX Runtime's own stream);
    /// <paramref name="captureGraphs"/> for a bucketed stage under <c>CUDA_GRAPHS=true</c>.
    /// </summary>
    public static IReadOnlyDictionary<string, string> CudaProviderOptions(EngineSettings settings, nint stream, bool captureGraphs = false)
    {
        var options = new Dictionary<string, string>
        {
            ["device_id"] = settings.CudaDeviceId.ToString(CultureInfo.InvariantCulture),
            // EXHAUSTIVE (the default) re-benchmarks every new input length, which TTS produces constantly.
            ["cudnn_conv_algo_search"] = settings.CudnnConvAlgoSearch.ToString().ToUpperInvariant(),
            // Power-of-two growth reuses chunks across nearby lengths; kSameAsRequested fragments under dynamic shapes.
            ["arena_extend_strategy"] = "kNextPowerOfTwo",
            // ONNX Runtime turns TF32 on by default; fp32 models should produce fp32 results unless asked otherwise.
            ["use_tf32"] = settings.CudaTf32 ? "1" : "0",
            ["do_copy_in_default_stream"] = "1",
            // Only bucketed stages capture (one graph id per bucket, with its own warm-up); data-dependent shapes cannot.
            ["enable_cuda_graph"] = captureGraphs ? "1" : "0",
        };
        if (settings.GpuMemLimitBytes > 0)
        {
            options["gpu_mem_limit"] = settings.GpuMemLimitBytes.ToString(CultureInfo.InvariantCulture);
        }

        // A capturing session computes on the stream its provider creates for graphs: with a user stream, ONNX Runtime 1.31
        // began the capture on the legacy stream (CUDA error 900) on an H100. Its worker syncs its own copies before runs.
        if (stream != 0 && !captureGraphs)
        {
            // ONNX Runtime parses the handle as a decimal address.
            options["user_compute_stream"] = ((ulong)stream).ToString(CultureInfo.InvariantCulture);
        }

        return options;
    }

    public static GraphOptimizationLevel OptimizationLevel(GraphOptimization optimization) => optimization switch
    {
        GraphOptimization.All => GraphOptimizationLevel.ORT_ENABLE_ALL,
        GraphOptimization.Extended => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        GraphOptimization.Basic => GraphOptimizationLevel.ORT_ENABLE_BASIC,
        GraphOptimization.Disabled => GraphOptimizationLevel.ORT_DISABLE_ALL,
        _ => throw new ArgumentOutOfRangeException(nameof(optimization)),
    };

    public static SessionOptions Create(EngineSettings settings, ExecutionProviderKind provider, nint stream, bool captureGraphs = false)
    {
        var options = new SessionOptions
        {
            GraphOptimizationLevel = OptimizationLevel(settings.GraphOptimization),
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING,
        };
        try
        {
            if (provider == ExecutionProviderKind.Cuda)
            {
                using var cuda = new OrtCUDAProviderOptions();
                cuda.UpdateOptions(new Dictionary<string, string>(CudaProviderOptions(settings, stream, captureGraphs)));
                options.AppendExecutionProvider_CUDA(cuda);
                // Weights allocated outside the arena, so the arena holds only activations and can be capped.
                options.AddSessionConfigEntry("session.use_device_allocator_for_initializers", "1");
                if (!settings.CpuFallback)
                {
                    // A node without a CUDA kernel fails the load rather than running on the CPU behind Memcpy nodes.
                    options.AddSessionConfigEntry("session.disable_cpu_ep_fallback", "1");
                }
            }
            else
            {
                if (settings.IntraOpThreads > 0)
                {
                    options.IntraOpNumThreads = settings.IntraOpThreads;
                }

                // Spinning threads burn cores between requests that other backends on the machine could use.
                options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
            }

            return options;
        }
        catch
        {
            options.Dispose();
            throw;
        }
    }
}
