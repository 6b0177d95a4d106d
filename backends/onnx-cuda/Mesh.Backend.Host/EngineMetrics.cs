using Mesh.Backend.Engine;
using Microsoft.Extensions.Options;
using Prometheus;

namespace Mesh.Backend.Host;

/// <summary>Exports what the engine reports: run time per stage, graph and precision, the execution provider in use, and how the model runs.</summary>
public sealed class EngineMetrics(IOptions<BackendOptions> backend) : IEngineObserver
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

    public void ModelLoaded(string model, EngineDescription description)
    {
        ArgumentNullException.ThrowIfNull(description);
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

    public void RunCompleted(in EngineRunTiming timing)
    {
        RunSeconds.WithLabels(backend.Value.Name, backend.Value.Variant, timing.Model, timing.Stage, timing.Graph, timing.Precision).Observe(timing.Total.TotalSeconds);
        if (timing.Graph != EngineRunTiming.Eager)
        {
            GraphReplays.WithLabels(backend.Value.Name, backend.Value.Variant, timing.Model, timing.Stage).Inc();
        }
    }
}
