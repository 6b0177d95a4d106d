using System.Text.Json;
using Mesh.Backend.Engine;
using Mesh.ModelGeneration;
using Mesh.Tests.Integration;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Tests.Engine;

[Collection(GeneratedModelsDefinition.Name)]
public sealed class InferenceEngineTests(GeneratedModels models)
{
    private static GraphFile[] PiperGraph(GeneratedModels m) => [new GraphFile("model", Path.Combine(m.PiperTiny, "en_US-tiny-medium.onnx"))];

    [Fact]
    public void Cuda_options_are_set_deliberately()
    {
        var options = SessionOptionsFactory.CudaProviderOptions(new EngineSettings { GpuMemLimitBytes = 1 << 30 }, stream: 123456789);
        Assert.Equal("HEURISTIC", options["cudnn_conv_algo_search"]);
        Assert.Equal("0", options["use_tf32"]);
        Assert.Equal("kNextPowerOfTwo", options["arena_extend_strategy"]);
        Assert.Equal("1073741824", options["gpu_mem_limit"]);
        Assert.Equal("123456789", options["user_compute_stream"]);
        Assert.Equal("0", options["enable_cuda_graph"]);

        var tf32 = SessionOptionsFactory.CudaProviderOptions(new EngineSettings { CudaTf32 = true, CudnnConvAlgoSearch = ConvAlgoSearch.Exhaustive }, 0);
        Assert.Equal("1", tf32["use_tf32"]);
        Assert.Equal("EXHAUSTIVE", tf32["cudnn_conv_algo_search"]);
        Assert.False(tf32.ContainsKey("user_compute_stream"));
        Assert.False(tf32.ContainsKey("gpu_mem_limit"));

        // A capturing stage computes on the provider's own stream (its capture failed on a user stream).
        var captured = SessionOptionsFactory.CudaProviderOptions(new EngineSettings { CudaGraphs = true }, stream: 123456789, captureGraphs: true);
        Assert.Equal("1", captured["enable_cuda_graph"]);
        Assert.False(captured.ContainsKey("user_compute_stream"));
    }

    [Theory]
    [InlineData("cuda", ExecutionProviderKind.Cuda)]
    [InlineData("CPU", ExecutionProviderKind.Cpu)]
    public void Options_parse_case_insensitively(string value, ExecutionProviderKind kind)
    {
        Assert.Equal(kind, EngineSettings.ParseOption<ExecutionProviderKind>(value, "EXECUTION_PROVIDER"));
        Assert.Throws<ArgumentException>(() => EngineSettings.ParseOption<ExecutionProviderKind>("tpu", "EXECUTION_PROVIDER"));
        Assert.Throws<ArgumentException>(() => EngineSettings.ParseOption<GraphOptimization>("1", "GRAPH_OPTIMIZATION"));
    }

    [Fact]
    public async Task Cuda_without_a_usable_gpu_falls_back_to_cpu_with_a_reason()
    {
        var problem = InferenceEngine.ProbeCuda(0);
        var observer = new RecordingObserver();
        using var engine = await InferenceEngine.CreateAsync("piper-tiny", PiperGraph(models), new EngineSettings(), observer, NullLogger.Instance, CancellationToken.None);

        Assert.Equal(ExecutionProviderKind.Cuda, engine.Provider.Requested);
        if (problem is { } p)
        {
            Assert.Equal(ExecutionProviderKind.Cpu, engine.Provider.Active);
            Assert.Equal(p.Reason, engine.Provider.FallbackReason);
            Assert.False(string.IsNullOrEmpty(engine.Provider.FallbackDetail));
        }

        Assert.Same(engine.Provider, Assert.Single(observer.Providers));
    }

    [Fact]
    public async Task Inputs_are_checked_against_the_model_metadata()
    {
        using var engine = await InferenceEngine.CreateAsync("piper-tiny", PiperGraph(models), EngineSettings.Cpu, null, NullLogger.Instance, CancellationToken.None);
        var signature = engine.Signatures["model"];
        Assert.Equal(
            ["input int64[1,?]", "input_lengths int64[1]", "scales float32[3]", "sid int64[1]"],
            signature.Inputs.Select(i => i.ToString()));

        await engine.RunAsync(
            worker =>
            {
                var graph = worker.Graph("model");
                Assert.Throws<ArgumentException>(() => graph.SetInput("nope", [1L], [1]));
                Assert.Throws<ArgumentException>(() => graph.SetInput("input", [1L, 2L], [2]));
                Assert.Throws<ArgumentException>(() => graph.SetInput("scales", [1f, 1f], [2]));
                Assert.Throws<InvalidOperationException>(graph.Run);

                // Integers fed to a float input are converted to the declared type.
                graph.SetInput("input", [1L, 0L, 10L, 0L, 2L], [1, 5]);
                graph.SetInput("input_lengths", [5L], [1]);
                graph.SetInput("scales", [1L, 1L, 1L], [3]);
                graph.SetInput("sid", [1L], [1]);
                var output = graph.Run()["output"];
                Assert.Equal(4, output.Shape.Count);
                Assert.Equal(0, output.Length % 256);
                return true;
            },
            CancellationToken.None);
    }

    [Fact]
    public async Task A_load_cancelled_before_it_starts_throws_and_reports_no_engine()
    {
        var observer = new RecordingObserver();
        using var shutdown = new CancellationTokenSource();
        await shutdown.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => InferenceEngine.CreateAsync(
            "piper-tiny", PiperGraph(models), EngineSettings.Cpu with { Workers = 2 }, observer, NullLogger.Instance, shutdown.Token));
        Assert.Empty(observer.Providers);
    }

    [Fact]
    public async Task Dispose_abandons_queued_work_instead_of_running_it()
    {
        var engine = await InferenceEngine.CreateAsync("piper-tiny", PiperGraph(models), EngineSettings.Cpu, null, NullLogger.Instance, CancellationToken.None);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var finish = new ManualResetEventSlim();
        var running = engine.RunAsync(_ => { started.SetResult(); finish.Wait(); return true; }, CancellationToken.None);
        var ran = 0;
        var queued = Enumerable.Range(0, 20).Select(_ => Queue()).ToList();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // Dispose blocks until the run under way ends, so it runs apart. That run may end only once Dispose has begun, or
        // the worker would go on to the queue: until the engine refuses new work, it is queued with the rest.
        var disposing = Task.Factory.StartNew(engine.Dispose, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        await Eventually.UntilAsync(() => Task.FromResult(!QueuedAnother()), "Dispose did not begin");
        finish.Set();
        await disposing.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(await running); // the run under way finishes
        Assert.Equal(0, Volatile.Read(ref ran));
        Assert.All(queued, t => Assert.IsType<ObjectDisposedException>(t.Exception?.InnerException));

        Task<bool> Queue() => engine.RunAsync(_ => Interlocked.Increment(ref ran) > 0, CancellationToken.None);

        bool QueuedAnother()
        {
            try
            {
                queued.Add(Queue());
                return true;
            }
            catch (ObjectDisposedException)
            {
                return false;
            }
        }
    }

    [Fact]
    public async Task Reference_models_run_batched_steps_and_staged_shapes()
    {
        var root = Directory.CreateTempSubdirectory("mesh-ref-");
        try
        {
            ModelGenerator.Generate(root.FullName, [ModelGenerator.RefAr, ModelGenerator.RefStaged]);
            var ar = Path.Combine(root.FullName, ModelGenerator.RefAr);
            var staged = Path.Combine(root.FullName, ModelGenerator.RefStaged);

            using (var engine = await InferenceEngine.CreateAsync("ref-ar", [new GraphFile("step", Path.Combine(ar, "step.onnx"))], EngineSettings.Cpu, null, NullLogger.Instance, CancellationToken.None))
            {
                Assert.Equal("state float32[24,?,1024]", engine.Signatures["step"].Input("state")!.ToString());
                var (first, second, batched) = await engine.RunAsync(
                    worker =>
                    {
                        var step = worker.Graph("step");
                        step.SetInput("token", [5L], [1, 1]);
                        step.SetInput("state", new float[24 * 1024], [24, 1, 1024]);
                        var one = step.Run();
                        Assert.Equal([24L, 1, 1024], one["next_state"].Shape);
                        step.SetInput("token", [5L], [1, 1]);
                        step.SetInput("state", one["next_state"].ToFloats(), [24, 1, 1024]);
                        var two = step.Run()["logits"].ToFloats();
                        step.SetInput("token", [5L, 9L], [2, 1]);
                        step.SetInput("state", new float[24 * 2 * 1024], [24, 2, 1024]);
                        return (one["logits"].ToFloats(), two, step.Run()["logits"].ToFloats());
                    },
                    CancellationToken.None);
                Assert.Equal(1024, first.Length);
                Assert.NotEqual(first, second); // the recurrent state carries over
                // Streams decoded as a batch are independent: row 0 of a batch of two is the single stream's step.
                Assert.Equal(2048, batched.Length);
                Assert.All(first.Zip(batched[..1024]), p => Assert.Equal(p.First, p.Second, 1e-4f));
                Assert.NotEqual(batched[..1024], batched[1024..]);
            }

            using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(staged, "reference.json")));
            Assert.InRange(document.RootElement.GetProperty("parameters").GetInt64(), 70_000_000, 90_000_000);

            GraphFile[] graphs = [new("encoder", Path.Combine(staged, "encoder.onnx")), new("decoder", Path.Combine(staged, "decoder.onnx"))];
            using var stagedEngine = await InferenceEngine.CreateAsync("ref-staged", graphs, EngineSettings.Cpu, null, NullLogger.Instance, CancellationToken.None);
            var (samples, durations) = await stagedEngine.RunAsync(
                worker =>
                {
                    var encoder = worker.Graph("encoder");
                    encoder.SetInput("tokens", [3L, 14, 15, 92, 65, 35, 89, 79], [1, 8]);
                    var encoded = encoder.Run();
                    var hidden = encoded["hidden"].ToFloats();
                    var frameDurations = encoded["durations"].ToInt64s();

                    // Host-side length expansion: each token's row repeated by its duration.
                    var frames = frameDurations.SelectMany((d, t) => Enumerable.Repeat(t, (int)d))
                        .SelectMany(t => hidden.Skip(t * 768).Take(768)).ToArray();
                    var decoder = worker.Graph("decoder");
                    decoder.SetInput("frames", frames, [1, frames.Length / 768, 768]);
                    return (decoder.Run()["audio"].Length, frameDurations);
                },
                CancellationToken.None);
            Assert.Equal(durations.Sum() * 600, samples);
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Fact]
    public void Generation_is_deterministic()
    {
        var a = Directory.CreateTempSubdirectory("mesh-gen-a-");
        var b = Directory.CreateTempSubdirectory("mesh-gen-b-");
        try
        {
            string[] packages = [ModelGenerator.KokoroTiny, ModelGenerator.PiperTiny];
            ModelGenerator.Generate(a.FullName, packages);
            ModelGenerator.Generate(b.FullName, packages);
            var files = a.EnumerateFiles("*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a.FullName, f.FullName)).Order().ToArray();
            Assert.Equal(4, files.Length);
            Assert.All(files, f => Assert.Equal(File.ReadAllBytes(Path.Combine(a.FullName, f)), File.ReadAllBytes(Path.Combine(b.FullName, f))));
        }
        finally
        {
            a.Delete(recursive: true);
            b.Delete(recursive: true);
        }
    }
}
