using Mesh.Backend.Engine;
using Microsoft.Extensions.Options;
using Prometheus;

namespace Mesh.Backend.Host;

/// <summary>
/// Exports what the engine reports: run time per stage, graph and precision, the execution provider in use, how the
/// model runs, and on the CUDA provider the device's memory, read at each scrape.
/// </summary>
public sealed class EngineMetrics(IOptions<BackendOptions> backend, IOptions<EngineOptions> engine) : IEngineObserver
{
    private static readonly Histogram RunSeconds = Metrics.CreateHistogram(
        "mesh_engine_run_seconds",
        "Time of one engine run of one model stage (input binding, ONNX Runtime run, output copy).",
        new HistogramConfiguration
        {
            LabelNames = ["backend", "variant", "model", "stage", "graph", "precision"],
            Buckets = Histogram.ExponentialBuckets(0.001, 2, 15), // 1 ms .. ~16 s
        });

    private static readonly Counter GraphReplays = Metrics.CreateCounter(
        "mesh_engine_graph_replays_total",
        "Engine runs that replayed a captured CUDA graph (CUDA_GRAPHS=true).",
        "backend", "variant", "model", "stage");

    private static readonly Gauge Provider = Metrics.CreateGauge(
        "mesh_engine_execution_provider",
        "1 for the execution provider a model runs on; fallback_reason says why it is not the requested one.",
        "backend", "variant", "model", "requested", "active", "fallback_reason");

    private static readonly Gauge Info = Metrics.CreateGauge(
        "mesh_engine_info",
        "1 for how a model runs: the active execution provider, the weight precision (fp32, int8) and the graph mode (eager, captured).",
        "backend", "variant", "model", "provider", "precision", "graphs");

    private static readonly Gauge GpuMemoryUsed = Metrics.CreateGauge(
        "mesh_gpu_memory_used_bytes",
        "GPU engine only: device memory in use (total less free, as the driver counts it), which on a GPU given to one backend is that backend's arena, sessions and buffers.",
        "backend", "variant", "device");

    private static readonly Gauge GpuMemoryLimit = Metrics.CreateGauge(
        "mesh_gpu_memory_limit_bytes",
        "GPU engine only: the device's total memory, what mesh_gpu_memory_used_bytes can reach (GPU_MEM_LIMIT_MB caps each session's arena, not the device).",
        "backend", "variant", "device");

    private int _gpuMemoryExported;

    public void ModelLoaded(string model, EngineDescription description)
    {
        ArgumentNullException.ThrowIfNull(description);
        if (description.Provider.Active == ExecutionProviderKind.Cuda && Interlocked.Exchange(ref _gpuMemoryExported, 1) == 0)
        {
            Metrics.DefaultRegistry.AddBeforeCollectCallback(ExportGpuMemory);
        }

        Info.WithLabels(
            backend.Value.Name,
            backend.Value.Variant,
            model,
            description.Provider.Active.ToString().ToLowerInvariant(),
            description.Precision,
            description.Graphs).Set(1);
    }

    public void ProviderSelected(string model, ProviderSelection selection)
    {
        ArgumentNullException.ThrowIfNull(selection);
        Provider.WithLabels(
            backend.Value.Name,
            backend.Value.Variant,
            model,
            selection.Requested.ToString().ToLowerInvariant(),
            selection.Active.ToString().ToLowerInvariant(),
            selection.FallbackReason ?? "none").Set(1);
    }

    private void ExportGpuMemory()
    {
        var device = engine.Value.CudaDeviceId;
        if (GpuMemory.Query(device) is not { } memory)
        {
            return;
        }

        string[] labels = [backend.Value.Name, backend.Value.Variant, device.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        GpuMemoryUsed.WithLabels(labels).Set(memory.Used);
        GpuMemoryLimit.WithLabels(labels).Set(memory.Total);
    }

    public void RunCompleted(in EngineRunTiming timing)
    {
        RunSeconds.WithLabels(backend.Value.Name, backend.Value.Variant, timing.Model, timing.Stage, timing.Graph, timing.Precision).Observe(timing.Total.TotalSeconds);
        if (timing.Graph != EngineRunTiming.Eager)
        {
            GraphReplays.WithLabels(backend.Value.Name, backend.Value.Variant, timing.Model, timing.Stage).Inc();
        }
    }
}
