using System.Collections.Concurrent;
using System.Diagnostics;
using Mesh.Backend.Quantizer;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Mesh.Backend.Engine;

/// <summary>
/// Runs a model's graphs on <see cref="EngineSettings.Workers"/> inference workers, each on its own dedicated
/// thread: work is queued and the next free worker takes it. On the CPU provider the workers share one session per
/// graph (weights once; Run is thread-safe) with their own bindings; on the CUDA provider each worker owns its sessions
/// and CUDA stream, since a session has one compute stream and runs on it would otherwise serialize.
/// </summary>
public sealed partial class InferenceEngine : IDisposable
{
    private readonly BlockingCollection<WorkItem> _shared = new();
    private readonly CancellationTokenSource _shutdown = new();
    private readonly List<WorkerThread> _threads = [];
    // The CPU provider's sessions, one per graph in the package's order, which every worker runs (none on CUDA).
    private readonly List<InferenceSession> _sharedSessions = [];
    private bool _disposed;

    private InferenceEngine(
        string model, IReadOnlyList<GraphFile> graphs, EngineSettings settings, ExecutionProviderKind provider, IEngineObserver? observer)
    {
        Model = model;
        try
        {
            if (provider == ExecutionProviderKind.Cpu)
            {
                foreach (var graph in graphs)
                {
                    _sharedSessions.Add(CreateSession(graph, settings, provider, 0));
                }
            }

            for (var i = 0; i < settings.Workers; i++)
            {
                var index = i;
                _threads.Add(new WorkerThread(this, index, () => CreateWorker(model, index, graphs, settings, provider, _sharedSessions, observer)));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Model { get; }

    public ProviderSelection Provider { get; private set; } = ProviderSelection.Exactly(ExecutionProviderKind.Cpu);

    public int WorkerCount => _threads.Count;

    /// <summary>Each graph's inputs and outputs as the model declares them.</summary>
    public IReadOnlyDictionary<string, ModelSignature> Signatures { get; private set; } = new Dictionary<string, ModelSignature>();

    /// <summary><see cref="Precisions.Int8"/> when any graph runs MatMulNBits weights (quantized at load or before).</summary>
    public string Precision { get; private set; } = Precisions.Fp32;

    /// <summary>Whether runs of some stage replay captured CUDA graphs (<see cref="GraphModes"/>).</summary>
    public string Graphs { get; private set; } = GraphModes.Eager;

    public EngineDescription Description => new(Provider, Precision, Graphs);

    /// <summary>
    /// Loads <paramref name="graphs"/> on the requested provider and starts the workers. A CUDA request that cannot be
    /// met (no CUDA build, runtime, device, or provider libraries) falls back to the CPU provider; the reason is logged
    /// and reported to <paramref name="observer"/>.
    /// </summary>
    /// <exception cref="EngineLoadException">A graph is missing or does not load, or the settings are not supported.</exception>
    /// <exception cref="OperationCanceledException">
    /// <paramref name="cancellationToken"/> was cancelled before every worker was ready; the workers started are disposed.
    /// </exception>
    public static async Task<InferenceEngine> CreateAsync(
        string model, IReadOnlyList<GraphFile> graphs, EngineSettings settings, IEngineObserver? observer, ILogger logger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(logger);
        settings.Validate();
        if (graphs.Count == 0)
        {
            throw new ArgumentException("A model needs at least one graph.", nameof(graphs));
        }

        foreach (var graph in graphs.Where(g => !File.Exists(g.Path)))
        {
            throw new EngineLoadException($"Graph '{graph.Name}' of model '{model}' is missing: {graph.Path} does not exist.");
        }

        cancellationToken.ThrowIfCancellationRequested();
        if (settings.Quantize == Quantization.Int8)
        {
            graphs = Quantize(model, graphs, settings, logger);
        }

        InferenceEngine? engine = null;
        var selection = ProviderSelection.Exactly(settings.ExecutionProvider);
        if (settings.ExecutionProvider == ExecutionProviderKind.Cuda)
        {
            var problem = ProbeCuda(settings.CudaDeviceId);
            if (problem is null)
            {
                // Outside the try: a graph the fusions cannot read is a load error of its own, not a reason to leave CUDA.
                var cudaGraphs = settings.FuseMatMuls && settings.Quantize == Quantization.None ? Fuse(model, graphs, settings, logger) : graphs;
                try
                {
                    engine = await StartAsync(model, cudaGraphs, settings, ExecutionProviderKind.Cuda, observer, cancellationToken);
                }
                catch (EngineLoadException ex)
                {
                    problem = (FallbackReasons.CudaProviderFailed, ex.Message);
                }
            }

            if (problem is { } p)
            {
                if (!settings.CpuFallback)
                {
                    throw new EngineLoadException($"EXECUTION_PROVIDER=cuda with CPU fallback disabled, and CUDA is not usable ({p.Reason}): {p.Detail}");
                }

                selection = new ProviderSelection(ExecutionProviderKind.Cuda, ExecutionProviderKind.Cpu, p.Reason, p.Detail);
                LogFallback(logger, model, p.Reason, p.Detail);
            }
        }

        engine ??= await StartAsync(model, graphs, settings, ExecutionProviderKind.Cpu, observer, cancellationToken);
        engine.Provider = selection;
        observer?.ProviderSelected(model, selection);
        observer?.ModelLoaded(model, engine.Description);
        var active = selection.Active.ToString().ToLowerInvariant();
        var optimization = settings.GraphOptimization.ToString().ToLowerInvariant();
        var signatures = string.Join(" | ", engine.Signatures.Select(s => $"{s.Key}: {s.Value}"));
        LogStarted(logger, model, active, optimization, engine.WorkerCount, engine.Precision, signatures);
        var first = engine._threads[0].Worker!;
        foreach (var graph in first.GraphNames.Select(first.Graph).OfType<BucketedGraph>())
        {
            foreach (var route in graph.Routes.Where(r => r.RunsOn != r.Bucket))
            {
                LogRedirected(logger, model, graph.Name, graph.Bucketing.Dimension, route.Bucket, route.RunsOn, route.RunsOnReplayMs, route.ReplayMs);
            }
        }

        return engine;
    }

    /// <summary>
    /// Starts the workers on <paramref name="provider"/> and waits until each has made its sessions; when one fails or the
    /// wait is cancelled, the others are disposed with the engine.
    /// </summary>
    private static async Task<InferenceEngine> StartAsync(
        string model, IReadOnlyList<GraphFile> graphs, EngineSettings settings, ExecutionProviderKind provider, IEngineObserver? observer, CancellationToken cancellationToken)
    {
        var engine = new InferenceEngine(model, graphs, settings, provider, observer);
        try
        {
            foreach (var thread in engine._threads)
            {
                await thread.Ready.WaitAsync(cancellationToken);
            }
        }
        catch
        {
            engine.Dispose();
            throw;
        }

        engine.DescribeGraphs();
        return engine;
    }

    /// <summary>The signatures, precision and graph mode every worker shares, read from the first one's graphs.</summary>
    private void DescribeGraphs()
    {
        var first = _threads[0].Worker!;
        Signatures = first.GraphNames.ToDictionary(n => n, n => first.Graph(n).Signature);
        Precision = first.GraphNames.Any(n => first.Graph(n).Precision == Precisions.Int8) ? Precisions.Int8 : Precisions.Fp32;
        Graphs = first.GraphNames.Any(n => first.Graph(n) is BucketedGraph { CapturesGraphs: true }) ? GraphModes.Captured : GraphModes.Eager;
    }

    /// <summary>
    /// <c>QUANTIZE=int8</c>: each graph's MatMul weights become MatMulNBits, made in memory on the first start and
    /// cached on disk by content hash for the next ones.
    /// </summary>
    private static List<GraphFile> Quantize(string model, IReadOnlyList<GraphFile> graphs, EngineSettings settings, ILogger logger)
    {
        var options = settings.QuantizeOptions with { FuseSiblingMatMuls = settings.FuseMatMuls };
        var prepared = new List<GraphFile>(graphs.Count);
        foreach (var graph in graphs)
        {
            var started = Stopwatch.GetTimestamp();
            var quantized = Rewrite(graph, "QUANTIZE=int8 could not quantize", path => QuantizedModelCache.Prepare(path, options, settings.QuantizeCacheDirectory));
            if (quantized.NotQuantized is { } reason)
            {
                LogNotQuantized(logger, model, graph.Name, reason);
                prepared.Add(graph);
                continue;
            }

            var s = quantized.Summary;
            var milliseconds = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            LogQuantized(
                logger, model, graph.Name, s.Weights, s.SourceWeightBytes, s.QuantizedWeightBytes, s.WeightRatio * 100, s.FusedPairs, s.ModelBytesBefore, s.ModelBytesAfter,
                quantized.FromCache ? "from the cache" : "quantized now", quantized.CachedPath ?? "memory only", milliseconds, s.Options);
            if (s.Weights == 0)
            {
                LogNothingToQuantize(logger, model, graph.Name, options.MinDimension);
            }

            if (quantized.CacheProblem is { } problem)
            {
                LogNotCached(logger, model, graph.Name, problem);
            }

            prepared.Add(graph with { Path = quantized.CachedPath ?? graph.Path, Model = quantized.Model });
        }

        return prepared;
    }

    /// <summary>
    /// <c>FUSE_MATMULS=true</c> on fp32 graphs for the CUDA provider: joins and stacks MatMuls in memory (a pass over the
    /// weights, so no cache); a graph with nothing to fuse loads from its file as before. The CPU provider keeps the graphs
    /// as they are: it prepacks only 2-D constant weights, so a stacked one would be packed again on every run.
    /// </summary>
    private static List<GraphFile> Fuse(string model, IReadOnlyList<GraphFile> graphs, EngineSettings settings, ILogger logger)
    {
        var prepared = new List<GraphFile>(graphs.Count);
        foreach (var graph in graphs)
        {
            var started = Stopwatch.GetTimestamp();
            var fused = Rewrite(graph, "FUSE_MATMULS=true could not fuse", path => MatMulFusions.Prepare(path, settings.QuantizeOptions.MinDimension));

            if (fused.Model is null)
            {
                prepared.Add(graph);
                continue;
            }

            var milliseconds = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            LogFused(logger, model, graph.Name, fused.JoinedPairs, fused.StackedMatMuls, milliseconds);
            prepared.Add(graph with { Model = fused.Model });
        }

        return prepared;
    }

    /// <summary>A load-time rewrite of one graph; a graph it cannot read or rewrite fails the load, saying which and why.</summary>
    private static T Rewrite<T>(GraphFile graph, string failure, Func<string, T> rewrite)
    {
        try
        {
            return rewrite(graph.Path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or Google.Protobuf.InvalidProtocolBufferException or ArgumentException or OverflowException)
        {
            throw new EngineLoadException($"{failure} graph '{graph.Name}' ({graph.Path}): {ex.Message}", ex);
        }
    }

    /// <summary>Why the CUDA provider cannot be used, or null when it can be tried.</summary>
    public static (string Reason, string Detail)? ProbeCuda(int deviceId)
    {
        if (!OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider"))
        {
            return (FallbackReasons.CudaNotInBuild, "this ONNX Runtime build has no CUDA execution provider.");
        }

        return CudaRuntime.Probe(deviceId);
    }

    /// <summary>Runs <paramref name="work"/> on the next free worker's thread.</summary>
    public Task<T> RunAsync<T>(Func<InferenceWorker, T> work, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var item = new WorkItem<T>(work, cancellationToken);
        _shared.Add(item, CancellationToken.None);
        return item.Task;
    }

    /// <summary>Runs <paramref name="work"/> once on every worker (warm-up: no worker meets its first run on a request).</summary>
    public Task RunOnEveryWorkerAsync(Action<InferenceWorker> work, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var tasks = new List<Task>();
        foreach (var thread in _threads)
        {
            var item = new WorkItem<bool>(worker => { work(worker); return true; }, cancellationToken);
            thread.Own.Add(item, CancellationToken.None);
            tasks.Add(item.Task);
        }

        return Task.WhenAll(tasks);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _shutdown.Cancel();
        foreach (var thread in _threads)
        {
            thread.Join();
        }

        foreach (var item in _shared.GetConsumingEnumerable(CancellationToken.None).Take(_shared.Count))
        {
            item.Abandon();
        }

        foreach (var session in _sharedSessions)
        {
            session.Dispose();
        }

        _shared.Dispose();
        _shutdown.Dispose();
    }

    private static InferenceWorker CreateWorker(
        string model,
        int index,
        IReadOnlyList<GraphFile> graphs,
        EngineSettings settings,
        ExecutionProviderKind provider,
        IReadOnlyList<InferenceSession> sharedSessions,
        IEngineObserver? observer)
    {
        if (provider == ExecutionProviderKind.Cpu)
        {
            var buffers = new PinnedArraySource();
            var memory = new HostDeviceMemory();
            var workerGraphs = CreateGraphs(model, index, sharedSessions, graphs, settings, provider, buffers, memory, observer);
            return new InferenceWorker(index, workerGraphs, [], buffers, memory, 0);
        }

        nint stream = 0;
        var sessions = new List<InferenceSession>();
        HostBufferSource? pinned = null;
        DeviceMemory? device = null;
        try
        {
            // ONNX Runtime captures in cudaStreamCaptureModeGlobal, so this worker's cudaMalloc and weight copies would invalidate
            // another worker's capture. Released before this worker's own captures take it: never nested.
            lock (BucketedGraph.CaptureGate)
            {
                stream = CudaRuntime.CreateStream(settings.CudaDeviceId);
                foreach (var graph in graphs)
                {
                    sessions.Add(CreateCudaSession(graph, settings, stream));
                }
            }

            pinned = new CudaPinnedSource(sessions[0], settings.CudaDeviceId);
            device = new CudaDeviceMemory(settings.CudaDeviceId, stream);
            var created = CreateGraphs(model, index, sessions, graphs, settings, provider, pinned, device, observer);
            return new InferenceWorker(index, created, sessions, pinned, device, stream);
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or InvalidOperationException or EngineLoadException)
        {
            pinned?.Dispose();
            device?.Dispose();
            foreach (var session in sessions)
            {
                session.Dispose();
            }

            CudaRuntime.DestroyStream(stream);
            throw new EngineLoadException($"CUDA worker {index} could not start: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// A worker's graphs, one per session in the order of <paramref name="graphs"/>; when one fails, those made before it
    /// are disposed, since their fixed buffers and bindings are native memory the worker would never free.
    /// </summary>
    private static Dictionary<string, WorkerGraph> CreateGraphs(
        string model,
        int index,
        IReadOnlyList<InferenceSession> sessions,
        IReadOnlyList<GraphFile> graphs,
        EngineSettings settings,
        ExecutionProviderKind provider,
        HostBufferSource buffers,
        DeviceMemory memory,
        IEngineObserver? observer)
    {
        var created = new Dictionary<string, WorkerGraph>();
        try
        {
            for (var i = 0; i < graphs.Count; i++)
            {
                created[graphs[i].Name] = CreateGraph(model, graphs[i].Name, index, sessions[i], settings, provider, buffers, memory, observer);
            }

            return created;
        }
        catch
        {
            foreach (var graph in created.Values)
            {
                graph.Dispose();
            }

            throw;
        }
    }

    /// <summary>A bucketed stage (fixed buffers, and captured graphs on CUDA with <c>CUDA_GRAPHS=true</c>) or an unbucketed one.</summary>
    private static WorkerGraph CreateGraph(
        string model,
        string name,
        int index,
        InferenceSession session,
        EngineSettings settings,
        ExecutionProviderKind provider,
        HostBufferSource buffers,
        DeviceMemory memory,
        IEngineObserver? observer) =>
        settings.BucketsFor(name, ModelSignature.Of(session), provider) is { } bucketing
            ? new BucketedGraph(model, name, index, session, bucketing, memory, settings.CudaGraphs && provider == ExecutionProviderKind.Cuda, observer)
            : new HostBoundGraph(model, name, index, session, buffers, observer);

    /// <summary>
    /// A CUDA worker's session for <paramref name="graph"/>, capturing where <c>CUDA_GRAPHS=true</c> buckets it. Whether
    /// the default buckets fit the graph's inputs only its session tells: a graph they do not fit gets its session again
    /// without capture, on the worker's stream, and runs eagerly.
    /// </summary>
    private static InferenceSession CreateCudaSession(GraphFile graph, EngineSettings settings, nint stream)
    {
        const ExecutionProviderKind provider = ExecutionProviderKind.Cuda;
        if (!settings.CudaGraphs || settings.BucketsNamedFor(graph.Name, provider) is null)
        {
            return CreateSession(graph, settings, provider, stream);
        }

        var session = CreateSession(graph, settings, provider, stream, captureGraphs: true);
        if (settings.BucketsFor(graph.Name, ModelSignature.Of(session), provider) is not null)
        {
            return session;
        }

        session.Dispose();
        return CreateSession(graph, settings, provider, stream);
    }

    private static InferenceSession CreateSession(GraphFile graph, EngineSettings settings, ExecutionProviderKind provider, nint stream, bool captureGraphs = false)
    {
        try
        {
            using var options = SessionOptionsFactory.Create(settings, provider, stream, captureGraphs);
            return graph.Model is { } bytes ? new InferenceSession(bytes, options) : new InferenceSession(graph.Path, options);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new EngineLoadException($"ONNX Runtime could not load graph '{graph.Name}' ({graph.Path}) on the {provider} provider: {ex.Message}", ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Model {Model} graph {Graph}: requests up to {Dimension} {Bucket} run on the {RunsOn} bucket, whose graph replayed in {RunsOnMs:0.000} ms against {OwnMs:0.000} ms (worker 0)")]
    private static partial void LogRedirected(ILogger logger, string model, string graph, string dimension, int bucket, int runsOn, double runsOnMs, double ownMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model {Model}: EXECUTION_PROVIDER=cuda falls back to cpu ({Reason}): {Detail}")]
    private static partial void LogFallback(ILogger logger, string model, string reason, string detail);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Model {Model}: engine on {Provider} (GRAPH_OPTIMIZATION={Optimization}, {Workers} workers, {Precision}); {Signatures}")]
    private static partial void LogStarted(ILogger logger, string model, string provider, string optimization, int workers, string precision, string signatures);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Model {Model} graph {Graph}: QUANTIZE=int8 {Weights} MatMul weights {WeightBytesBefore} -> {WeightBytesAfter} bytes ({Percent:0.0}%), {FusedPairs} MatMul pairs joined, graph {GraphBytesBefore} -> {GraphBytesAfter} bytes; {Source} ({CachePath}) in {Milliseconds:0} ms; {Options}")]
    private static partial void LogQuantized(
        ILogger logger, string model, string graph, int weights, long weightBytesBefore, long weightBytesAfter, double percent, int fusedPairs, long graphBytesBefore,
        long graphBytesAfter, string source, string cachePath, double milliseconds, string options);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Model {Model} graph {Graph}: FUSE_MATMULS=true joined {JoinedPairs} added MatMul pairs and stacked {Stacked} MatMuls over slices of one tensor into batched ones, in {Milliseconds:0} ms")]
    private static partial void LogFused(ILogger logger, string model, string graph, int joinedPairs, int stacked, double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model {Model} graph {Graph}: QUANTIZE=int8 found no MatMul weight of at least {MinDimension}x{MinDimension}; the graph stays fp32")]
    private static partial void LogNothingToQuantize(ILogger logger, string model, string graph, int minDimension);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model {Model} graph {Graph}: QUANTIZE=int8 leaves the graph fp32: {Reason}")]
    private static partial void LogNotQuantized(ILogger logger, string model, string graph, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model {Model} graph {Graph}: the quantized graph could not be cached ({Problem}); it loads from memory and is quantized again on the next start")]
    private static partial void LogNotCached(ILogger logger, string model, string graph, string problem);

    private abstract class WorkItem
    {
        public abstract void Execute(InferenceWorker worker);

        public abstract void Abandon();
    }

    private sealed class WorkItem<T> : WorkItem
    {
        private readonly Func<InferenceWorker, T> _work;
        private readonly CancellationToken _cancellationToken;
        private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly CancellationTokenRegistration _registration;

        public WorkItem(Func<InferenceWorker, T> work, CancellationToken cancellationToken)
        {
            _work = work;
            _cancellationToken = cancellationToken;
            // A request that goes away while queued stops waiting at once; the worker skips it when it comes up.
            _registration = cancellationToken.Register(() => _completion.TrySetCanceled(cancellationToken));
        }

        public Task<T> Task => _completion.Task;

        public override void Execute(InferenceWorker worker)
        {
            _registration.Dispose();
            if (_completion.Task.IsCompleted || _cancellationToken.IsCancellationRequested)
            {
                _completion.TrySetCanceled(_cancellationToken);
                return;
            }

            try
            {
                _completion.TrySetResult(_work(worker));
            }
            catch (Exception ex)
            {
                _completion.TrySetException(ex);
            }
        }

        public override void Abandon()
        {
            _registration.Dispose();
            _completion.TrySetException(new ObjectDisposedException(nameof(InferenceEngine)));
        }
    }

    private sealed class WorkerThread
    {
        private readonly InferenceEngine _engine;
        private Func<InferenceWorker>? _create;
        private readonly Thread _thread;
        private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public WorkerThread(InferenceEngine engine, int index, Func<InferenceWorker> create)
        {
            _engine = engine;
            _create = create;
            _thread = new Thread(Run) { IsBackground = true, Name = $"inference-{index}" };
            _thread.Start();
        }

        /// <summary>Work only this worker may take (warm-up).</summary>
        public BlockingCollection<WorkItem> Own { get; } = new();

        public InferenceWorker? Worker { get; private set; }

        public Task Ready => _ready.Task;

        public void Join()
        {
            _thread.Join();
            foreach (var item in Own.GetConsumingEnumerable(CancellationToken.None).Take(Own.Count))
            {
                item.Abandon();
            }

            Own.Dispose();
        }

        private void Run()
        {
            try
            {
                // Sessions, bindings and streams are made on the thread that uses them (CUDA graphs will need that).
                Worker = _create!();
                // The factory holds the graphs, and with them a fresh quantization's bytes: done with once loaded.
                _create = null;
                _ready.SetResult();
            }
            catch (Exception ex)
            {
                _ready.SetException(ex);
                return;
            }

            try
            {
                BlockingCollection<WorkItem>[] queues = [Own, _engine._shared];
                while (true)
                {
                    WorkItem item;
                    try
                    {
                        BlockingCollection<WorkItem>.TakeFromAny(queues, out item!, _engine._shutdown.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }

                    // TakeFromAny hands out queued work even once the token is cancelled: on shutdown, nothing more runs.
                    if (_engine._shutdown.IsCancellationRequested)
                    {
                        item.Abandon();
                        break;
                    }

                    item.Execute(Worker);
                }
            }
            finally
            {
                Worker.Dispose();
            }
        }
    }
}
