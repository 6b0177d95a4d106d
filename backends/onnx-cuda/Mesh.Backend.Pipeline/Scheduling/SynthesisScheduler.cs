using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Mesh.Backend.ModelFamilies;
using Mesh.Contracts;

namespace Mesh.Backend.Pipeline.Scheduling;

/// <summary>
/// The backend's own priority queue. Work is scheduled per sentence, not per request, and a free worker always takes
/// a queued realtime sentence before any batch one, so a realtime stream never waits behind a batch paragraph:
/// at most behind the one batch sentence already on the engine.
/// </summary>
public sealed class SynthesisScheduler : IAsyncDisposable
{
    private readonly ConcurrentQueue<WorkItem> _realtime = new();
    private readonly ConcurrentQueue<WorkItem> _batch = new();
    private readonly SemaphoreSlim _queued = new(0);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task[] _workers;
    private readonly ISchedulerObserver _observer;
    private readonly SchedulerLimits _limits;
    private int _activeRealtime;
    private int _activeBatch;

    public SynthesisScheduler(SchedulerLimits limits, ISchedulerObserver observer)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limits.Workers, 1);
        _limits = limits;
        _observer = observer;
        _workers = [.. Enumerable.Range(0, limits.Workers).Select(_ => Task.Run(RunWorkerAsync))];
    }

    /// <summary>Work on this backend: requests admitted plus sentences waiting for a worker (what balancing compares).</summary>
    public int Load => Volatile.Read(ref _activeRealtime) + Volatile.Read(ref _activeBatch) + _realtime.Count + _batch.Count;

    /// <summary>
    /// Admits one request of <paramref name="priority"/> if its class has room; the ticket holds the place until disposed.
    /// Null means the class is full and the caller answers 429.
    /// </summary>
    public AdmissionTicket? TryAdmit(string priority)
    {
        var isRealtime = priority == PriorityClasses.Realtime;
        ref var active = ref isRealtime ? ref _activeRealtime : ref _activeBatch;
        var limit = isRealtime ? _limits.MaxActiveRealtime : _limits.MaxActiveBatch;
        if (Interlocked.Increment(ref active) > limit)
        {
            Interlocked.Decrement(ref active);
            return null;
        }

        return new AdmissionTicket(this, isRealtime);
    }

    /// <summary>Queues one sentence; its audio chunks arrive on the returned reader, which completes when it is done.</summary>
    public ChannelReader<AudioChunk> Submit(
        string priority, ISpeechModel model, SynthesisRequest request, CancellationToken cancellationToken)
    {
        var output = Channel.CreateUnbounded<AudioChunk>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var item = new WorkItem(priority, model, request, output.Writer, Stopwatch.GetTimestamp(), cancellationToken);
        var queue = priority == PriorityClasses.Realtime ? _realtime : _batch;
        queue.Enqueue(item);
        _observer.Queued(priority, queue.Count);
        _queued.Release();
        return output.Reader;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await Task.WhenAll(_workers).ContinueWith(_ => { }, TaskScheduler.Default);
        _stopping.Dispose();
        _queued.Dispose();
    }

    private void Release(bool isRealtime) => Interlocked.Decrement(ref isRealtime ? ref _activeRealtime : ref _activeBatch);

    private async Task RunWorkerAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            await _queued.WaitAsync(_stopping.Token);
            if (!_realtime.TryDequeue(out var item) && !_batch.TryDequeue(out item))
            {
                continue;
            }

            var queue = item.Priority == PriorityClasses.Realtime ? _realtime : _batch;
            _observer.Dequeued(item.Priority, queue.Count, Stopwatch.GetElapsedTime(item.QueuedAt));
            await RunAsync(item);
        }
    }

    private async Task RunAsync(WorkItem item)
    {
        if (item.CancellationToken.IsCancellationRequested)
        {
            item.Output.TryComplete(new OperationCanceledException(item.CancellationToken));
            return;
        }

        try
        {
            var started = Stopwatch.GetTimestamp();
            await foreach (var chunk in item.Model.SynthesizeAsync(item.Request, item.CancellationToken))
            {
                item.Output.TryWrite(chunk);
            }

            item.Output.TryComplete();
            _observer.Synthesized(item.Priority, item.Model.Id, Stopwatch.GetElapsedTime(started));
        }
        catch (Exception ex)
        {
            // The reader (the request's pipeline) sees the failure; other requests on this worker are unaffected.
            item.Output.TryComplete(ex);
        }
    }

    /// <summary>A request's place in its priority class.</summary>
    public sealed class AdmissionTicket : IDisposable
    {
        private readonly SynthesisScheduler _scheduler;
        private readonly bool _isRealtime;
        private int _released;

        internal AdmissionTicket(SynthesisScheduler scheduler, bool isRealtime)
        {
            _scheduler = scheduler;
            _isRealtime = isRealtime;
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                _scheduler.Release(_isRealtime);
            }
        }
    }

    private sealed record WorkItem(
        string Priority,
        ISpeechModel Model,
        SynthesisRequest Request,
        ChannelWriter<AudioChunk> Output,
        long QueuedAt,
        CancellationToken CancellationToken);
}

/// <param name="Workers">Concurrent synthesis workers (<c>WORKERS</c>).</param>
/// <param name="MaxActiveRealtime">Realtime requests admitted at once; more get 429.</param>
/// <param name="MaxActiveBatch">Batch requests admitted at once; more get 429.</param>
public sealed record SchedulerLimits(int Workers, int MaxActiveRealtime, int MaxActiveBatch);

/// <summary>What the scheduler reports, so the host can export it without the pipeline knowing Prometheus.</summary>
public interface ISchedulerObserver
{
    void Queued(string priority, int depth);

    void Dequeued(string priority, int depth, TimeSpan wait);

    /// <summary>A worker finished one sentence: <paramref name="elapsed"/> from taking it to its last audio chunk.</summary>
    void Synthesized(string priority, string model, TimeSpan elapsed)
    {
    }
}
