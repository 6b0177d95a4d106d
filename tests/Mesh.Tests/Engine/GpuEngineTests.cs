using Mesh.Backend.Engine;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Tests.Engine;

/// <summary>A test that needs a usable CUDA device (and the CUDA provider); skipped, with the reason, elsewhere.</summary>
public sealed class GpuFactAttribute : FactAttribute
{
    public GpuFactAttribute()
    {
        if (InferenceEngine.ProbeCuda(0) is { } problem)
        {
            Skip = $"No usable GPU ({problem.Reason}): {problem.Detail}";
        }
    }
}

/// <summary>
/// The CUDA-graph engine on a GPU: loads with nothing on the CPU, joins ref-ar's MatMul pairs (FUSE_MATMULS), captures
/// one graph per bucket and replays it, and matches the CPU provider, which runs the graph as exported. The same checks run on the GPU test machine through Mesh.GpuBench (docs/gpu-results.md).
/// </summary>
[Collection(ReferenceModelsDefinition.Name)]
public sealed class GpuEngineTests(ReferenceModels models)
{
    private static readonly EngineSettings Captured = new()
    {
        ExecutionProvider = ExecutionProviderKind.Cuda,
        CpuFallback = false,
        CudaGraphs = true,
        GraphBuckets = GraphBucketing.Parse("step.batch=1,4"),
    };

    [GpuFact]
    public async Task Device_memory_in_use_grows_with_an_engine_on_the_device()
    {
        var before = GpuMemory.Query(0);
        using var gpu = await InferenceEngine.CreateAsync("ref-ar", models.Ar, Captured, null, NullLogger.Instance, CancellationToken.None);
        var after = GpuMemory.Query(0);

        Assert.NotNull(before);
        Assert.NotNull(after);
        // ref-ar's fp32 weights alone are about 200 MB.
        Assert.True(after.Value.Used - before.Value.Used > 100L << 20, $"in use {before.Value.Used} → {after.Value.Used} bytes");
        Assert.InRange(after.Value.Used, 0, after.Value.Total);
    }

    [GpuFact]
    public async Task Decode_steps_replay_captured_graphs_and_match_the_cpu()
    {
        long[][] steps = [[5, 9, 200], [17, 3, 999], [42, 42, 42]];
        using var cpu = await InferenceEngine.CreateAsync("ref-ar", models.Ar, EngineSettings.Cpu with { GraphBuckets = Captured.GraphBuckets }, null, NullLogger.Instance, CancellationToken.None);
        var log = new Quantizer.RecordingLogger();
        using var gpu = await InferenceEngine.CreateAsync("ref-ar", models.Ar, Captured, null, log, CancellationToken.None);
        Assert.Equal((ExecutionProviderKind.Cuda, GraphModes.Captured), (gpu.Provider.Active, gpu.Graphs));
        Assert.Contains(log.Lines, l => l.Contains("FUSE_MATMULS=true joined 24 added MatMul pairs", StringComparison.Ordinal));

        var expected = await cpu.RunAsync(worker => Decode(worker, steps).Logits, CancellationToken.None);
        var (actual, replays, captured) = await gpu.RunAsync(worker => Decode(worker, steps), CancellationToken.None);

        Assert.Equal(4, captured); // two buckets, each with its even and odd step
        Assert.Equal(steps.Length, replays);
        foreach (var (e, a) in expected.Zip(actual))
        {
            var scale = e.Max(MathF.Abs);
            Assert.All(e.Zip(a), p => Assert.InRange(MathF.Abs(p.First - p.Second) / scale, 0, 1e-3f));
        }
    }

    private static (List<float[]> Logits, long Replays, int Captured) Decode(InferenceWorker worker, long[][] steps)
    {
        var step = (BucketedGraph)worker.Graph("step");
        var loop = step.StartDecode(3);
        var logits = steps.Select(tokens => loop.Step(tokens)["logits"].ToFloats()).ToList();
        return (logits, step.Replays, step.CapturedGraphs);
    }
}
