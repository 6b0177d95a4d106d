using System.Diagnostics;
using Mesh.Backend.Host;
using Mesh.Backend.ModelFamilies;
using Mesh.Backend.Pipeline.Scheduling;
using Mesh.Contracts;
using Mesh.Contracts.Http;
using Mesh.Tests.Engine;
using Mesh.Tests.Integration;
using Mesh.Tests.Quantizer;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Mesh.Tests.Backend;

/// <summary>The model's lifecycle in <see cref="ModelHost"/>, on the built-in espeak model and on kokoro-tiny, whose engine says when it is used after disposal.</summary>
[Collection(GeneratedModelsDefinition.Name)]
public sealed class ModelHostTests(GeneratedModels models)
{
    [Fact]
    public async Task A_request_that_leaves_during_an_on_demand_load_leaves_the_model_loadable()
    {
        using var host = NewHost(new EngineOptions { PreloadModel = false });
        await host.StartAsync(CancellationToken.None);
        await WaitForStatusAsync(host, "unloaded");

        // The client leaves a millisecond in, while its request loads the model.
        using (var leaving = new CancellationTokenSource(TimeSpan.FromMilliseconds(1)))
        {
            try
            {
                (await host.AcquireAsync(leaving.Token))?.Dispose();
            }
            catch (OperationCanceledException)
            {
                // Left while waiting to load: as good as not asking.
            }
        }

        using var lease = await host.AcquireAsync(CancellationToken.None);
        Assert.NotNull(lease);
        Assert.Equal("ready", host.Status);
        Assert.True(host.IsReady);
        await host.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Disposal_waits_for_a_request_holding_the_model_and_frees_it_once_returned()
    {
        // Disposal would wait a minute for the lease: the request's synthesis, however slow, runs within it.
        var log = new RecordingLogger();
        using var loggers = LoggerFactory.Create(logging => logging.AddProvider(new RecordingLoggerProvider(log)));
        using var host = NewHost(KokoroTiny(), engineWork: new EngineWorkDeadline(TimeSpan.FromMinutes(1)), logger: loggers.CreateLogger<ModelHost>());
        await host.StartAsync(CancellationToken.None);
        await WaitForStatusAsync(host, "ready");
        var lease = await host.AcquireAsync(CancellationToken.None);
        Assert.NotNull(lease);
        await host.StopAsync(CancellationToken.None);

        var disposing = DisposeApartAsync(host);
        await Eventually.UntilAsync(
            () => Task.FromResult(log.Lines.Any(line => line.Contains("for 1 leases", StringComparison.Ordinal))), "disposal did not wait for the lease");

        // The request still synthesizes on the model it holds while disposal waits for it.
        Assert.True(await SynthesizeAsync(lease.Model) > 0);
        Assert.False(disposing.IsCompleted);
        lease.Dispose();
        await disposing.WaitAsync(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => SynthesizeAsync(lease.Model));
    }

    [Fact]
    public async Task Disposal_leaves_a_model_still_held_after_its_wait_undisposed()
    {
        using var host = NewHost(KokoroTiny());
        await host.StartAsync(CancellationToken.None);
        await WaitForStatusAsync(host, "ready");
        using var lease = await host.AcquireAsync(CancellationToken.None);
        Assert.NotNull(lease);
        await host.StopAsync(CancellationToken.None);

        var disposing = Stopwatch.StartNew();
        await DisposeApartAsync(host).WaitAsync(TimeSpan.FromSeconds(10));

        // It waited for the request, a bounded time, then left it the model whole.
        Assert.True(disposing.Elapsed >= TimeSpan.FromSeconds(1.5), $"disposed in {disposing.Elapsed}");
        Assert.True(await SynthesizeAsync(lease.Model) > 0);
    }

    [Fact]
    public async Task Disposal_waits_for_a_sentence_still_on_the_engine_after_its_request_returned_the_model()
    {
        // Each sentence first blocks its thread for 1.5 s, deaf to cancellation, as a native engine call can. Disposal would
        // wait a minute for it: the hang and the synthesis after it, however slow, end within that.
        using var host = NewHost(KokoroTiny(), new FaultOptions { SentenceHangMs = 1500 }, new EngineWorkDeadline(TimeSpan.FromMinutes(1)));
        await host.StartAsync(CancellationToken.None);
        await WaitForStatusAsync(host, "ready");
        var lease = await host.AcquireAsync(CancellationToken.None);
        Assert.NotNull(lease);
        var sentence = Task.Factory.StartNew(() => SynthesizeAsync(lease.Model), TaskCreationOptions.LongRunning).Unwrap();
        // The sentence's own thread takes a lease of its own, beside the request's, before it blocks.
        await Eventually.UntilAsync(() => Task.FromResult(host.LeasesHeld == 2), "the sentence did not take the model");

        // The request ends (its client left) while its sentence is on the engine, and the host stops.
        lease.Dispose();
        await host.StopAsync(CancellationToken.None);
        await DisposeApartAsync(host).WaitAsync(TimeSpan.FromSeconds(10));

        // Disposal waited for the sentence, which got its audio, then freed the model. Before, it freed the model at
        // once, under the sentence, whose engine then threw ObjectDisposedException.
        Assert.True(await sentence > 0);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => SynthesizeAsync(lease.Model));
    }

    [Fact]
    public async Task Disposal_after_the_scheduler_stopped_waiting_for_a_stuck_sentence_does_not_wait_for_it_again()
    {
        // The sentence blocks its worker for 10 s, deaf to cancellation, holding the model meanwhile.
        var engineWork = new EngineWorkDeadline();
        using var host = NewHost(KokoroTiny(), new FaultOptions { SentenceHangMs = 10_000 }, engineWork);
        await host.StartAsync(CancellationToken.None);
        await WaitForStatusAsync(host, "ready");
        var model = host.Model!;
        var scheduler = new SynthesisScheduler(
            new SchedulerLimits(1, 1, 1), engineWork, new BackendMetrics.SchedulerObserver("b0", "test"), NullLogger.Instance);
        using var request = new CancellationTokenSource();
        var onEngine = new EngineEntrySignal(model);
        _ = scheduler.Submit(PriorityClasses.Realtime, onEngine, new SynthesisRequest("Hello there.", model.ResolveVoice("alloy", null)!, 1.0), request.Token);
        // Cancelled earlier, between the worker taking the sentence and calling the model, the sentence would end unrun.
        await onEngine.Entered.WaitAsync(TimeSpan.FromSeconds(10));

        // The backend stops as after its drain: the request is cancelled, the scheduler and then the host disposed.
        await request.CancelAsync();
        await host.StopAsync(CancellationToken.None);
        var schedulerStopping = Stopwatch.StartNew();
        await scheduler.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(schedulerStopping.Elapsed >= TimeSpan.FromSeconds(1.5), $"the scheduler stopped in {schedulerStopping.Elapsed}");
        var hostStopping = Stopwatch.StartNew();
        await DisposeApartAsync(host).WaitAsync(TimeSpan.FromSeconds(10));

        // One wait of 2 s for the sentence, shared by both: the scheduler's used it up, and the host left the model the
        // sentence holds at once. Before, the host waited 2 s more for that lease. The bound is one wait's 2 s less a
        // margin for a loaded machine, not the time an idle disposal takes.
        Assert.True(hostStopping.Elapsed < TimeSpan.FromSeconds(1.5), $"the host waited {hostStopping.Elapsed} more");
        Assert.Same(model, host.Model);
    }

    [Fact]
    public async Task A_load_on_demand_that_ends_after_disposal_disposes_its_model_instead_of_serving_it()
    {
        var package = models.CopyOf(models.KokoroTiny);
        var graph = Directory.GetFiles(package, "*.onnx").Single();
        var graphBytes = await File.ReadAllBytesAsync(graph);
        await GeneratedModels.ReplaceWithFifoAsync(graph);
        using var host = NewHost(new EngineOptions { Model = package, ExecutionProvider = "cpu", PreloadModel = false });
        await host.StartAsync(CancellationToken.None);
        await WaitForStatusAsync(host, "unloaded");

        // A request loads the model, and ONNX Runtime waits for the graph to be written (blocking the thread it runs on).
        var openingFifos = ProcFs.ThreadsOpeningFifos(Environment.ProcessId);
        var acquiring = Task.Run(() => host.AcquireAsync(CancellationToken.None));
        await Eventually.UntilAsync(
            () => Task.FromResult(ProcFs.ThreadsOpeningFifos(Environment.ProcessId) > openingFifos), "the load did not open the graph");
        await host.StopAsync(CancellationToken.None);
        await DisposeApartAsync(host).WaitAsync(TimeSpan.FromSeconds(10));

        // The load ends after disposal stopped waiting for it: it serves nobody, and leaves no model behind.
        await File.WriteAllBytesAsync(graph, graphBytes).WaitAsync(TimeSpan.FromSeconds(20));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => acquiring);
        Assert.Null(host.Model);
    }

    [Fact]
    public async Task A_reload_that_fails_after_an_idle_unload_leaves_the_model_for_the_next_request_to_load()
    {
        var package = models.CopyOf(models.KokoroTiny);
        var aside = Path.Combine(Path.GetDirectoryName(package)!, "aside");
        var log = new RecordingLogger();
        using var loggers = LoggerFactory.Create(logging => logging.AddProvider(new RecordingLoggerProvider(log)));
        // Each reload takes a second more, so that a second request comes while the first one's load runs.
        using var host = NewHost(
            new EngineOptions { Model = package, ExecutionProvider = "cpu", IdleUnloadSeconds = 1 },
            new FaultOptions { ReloadDelayMs = 1000 },
            logger: loggers.CreateLogger<ModelHost>());
        await host.StartAsync(CancellationToken.None);
        await WaitForStatusAsync(host, "ready");
        await WaitForStatusAsync(host, "unloaded");

        // The package is away (being replaced, its disk remounting) as two requests reload it: both get no model, from
        // one load, which the second waited for rather than load again after it.
        Directory.Move(package, aside);
        var first = host.AcquireAsync(CancellationToken.None);
        var second = host.AcquireAsync(CancellationToken.None);
        Assert.Equal([null, null], await Task.WhenAll(first, second));
        Assert.Single(log.Lines, line => line.Contains("failed to load on demand", StringComparison.Ordinal));
        Assert.StartsWith("unloaded; its last load failed: ", host.Status, StringComparison.Ordinal);
        Assert.True(host.IsReady);

        // Back in place, the next request loads it. Before, the failure was latched: no request got the model again and
        // the backend stayed unready until restarted by hand.
        Directory.Move(aside, package);
        using var lease = await host.AcquireAsync(CancellationToken.None);
        Assert.NotNull(lease);
        Assert.Equal("ready", host.Status);
        await host.StopAsync(CancellationToken.None);
    }

    /// <summary>
    /// With <c>PRELOAD_MODEL=false</c>, a first load that fails is latched as a failed start-up load is: the backend turns
    /// unready, so probes take it out of rotation, rather than stay ready and load the bad package again for every
    /// request. Only a model this process served before is loaded again after a failure.
    /// </summary>
    [Fact]
    public async Task A_first_load_on_demand_that_fails_leaves_the_backend_unready()
    {
        var package = models.CopyOf(models.KokoroTiny);
        Directory.Move(package, package + "-aside");
        using var host = NewHost(new EngineOptions { Model = package, ExecutionProvider = "cpu", PreloadModel = false });
        await host.StartAsync(CancellationToken.None);
        await WaitForStatusAsync(host, "unloaded");
        Assert.True(host.IsReady);

        Assert.Null(await host.AcquireAsync(CancellationToken.None));
        Assert.False(host.IsReady);
        Assert.StartsWith("model failed to load: ", host.Status, StringComparison.Ordinal);

        // Latched: the package back in place is not loaded by the next request, as a failed start-up load is not.
        Directory.Move(package + "-aside", package);
        Assert.Null(await host.AcquireAsync(CancellationToken.None));
        Assert.False(host.IsReady);
        await host.StopAsync(CancellationToken.None);
    }

    private EngineOptions KokoroTiny() => new() { Model = models.KokoroTiny, ExecutionProvider = "cpu" };

    private static async Task<int> SynthesizeAsync(ISpeechModel model)
    {
        var voice = model.ResolveVoice("alloy", null)!;
        var samples = 0;
        await foreach (var chunk in model.SynthesizeAsync(new SynthesisRequest("Hello there.", voice, 1.0), CancellationToken.None))
        {
            samples += chunk.Samples.Length;
        }

        return samples;
    }

    private static ModelHost NewHost(
        EngineOptions engine, FaultOptions? faults = null, EngineWorkDeadline? engineWork = null, ILogger<ModelHost>? logger = null) => new(
        Options.Create(engine),
        Options.Create(faults ?? new FaultOptions()),
        new EngineMetrics(Options.Create(new BackendOptions()), Options.Create(engine)),
        new DrainState(),
        engineWork ?? new EngineWorkDeadline(),
        logger ?? NullLogger<ModelHost>.Instance);

    /// <summary>
    /// Disposes the host on a thread of its own: disposal blocks while it waits for leases, and a test run's busy thread
    /// pool could leave it unstarted past the test's bound.
    /// </summary>
    private static Task DisposeApartAsync(ModelHost host) =>
        Task.Factory.StartNew(host.Dispose, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>
    /// Says when a worker has called the model, whose first step (the injected hang) follows at once. Never disposed: the
    /// host owns the model it wraps.
    /// </summary>
    private sealed class EngineEntrySignal(ISpeechModel inner) : DelegatingSpeechModel(inner)
    {
        private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Entered => _entered.Task;

        public override IAsyncEnumerable<AudioChunk> SynthesizeAsync(SynthesisRequest request, CancellationToken cancellationToken)
        {
            _entered.TrySetResult();
            return Inner.SynthesizeAsync(request, cancellationToken);
        }
    }

    private static async Task WaitForStatusAsync(ModelHost host, string status)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (host.Status != status)
        {
            await Task.Delay(10, timeout.Token);
        }
    }
}
