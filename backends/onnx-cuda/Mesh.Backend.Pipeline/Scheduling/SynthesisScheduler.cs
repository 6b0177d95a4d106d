using System.Diagnostics;
using System.Threading.Channels;
using Mesh.Backend.ModelFamilies;
using Mesh.Contracts;
using Microsoft.Extensions.Logging;

namespace Mesh.Backend.Pipeline.Scheduling;

/// <summary>
/// The backend's own priority queue. Work is scheduled per sentence, not per request, and a free worker always takes
/// a queued realtime sentence before any batch one, so a realtime stream never waits behind a batch paragraph:
/// at most behind the one batch sentence already on the engine.
/// </summary>
public sealed partial class SynthesisScheduler : IAsyncDisposable
{
    // Guards both queues, the state of every sentence in them, _waiting and _disposed; held for list operations and
    // the observer's note of each queue's new depth only, which is published under it so that the depths exported
    // follow the order of the changes (published after it, a worker's 0 could be overwritten by the 1 of the Submit
    // whose sentence it had just taken, a queue left looking busy while empty).
    private readonly Lock _gate = new();
    private readonly LinkedList<WorkItem> _realtime = new();
    private readonly LinkedList<WorkItem> _batch = new();
    private readonly SemaphoreSlim _queued = new(0);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task[] _workers;
    private readonly ISchedulerObserver _observer;
    private readonly SchedulerLimits _limits;
    // Bounds disposal's wait for the sentences on workers.
    private readonly EngineWorkDeadline _engineWork;
    private readonly ILogger _logger;
    private int _activeRealtime;
    private int _activeBatch;
    private int _waiting; // sentences in the two queues
    private bool _disposed;

    public SynthesisScheduler(SchedulerLimits limits, EngineWorkDeadline engineWork, ISchedulerObserver observer, ILogger logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limits.Workers, 1);
        _limits = limits;
        _engineWork = engineWork;
        _observer = observer;
        _logger = logger;
        _workers = [.. Enumerable.Range(0, limits.Workers).Select(_ => Task.Run(RunWorkerAsync))];
    }

    /// <summary>Work on this backend: requests admitted plus sentences waiting for a worker (what balancing compares).</summary>
    public int Load => Volatile.Read(ref _activeRealtime) + Volatile.Read(ref _activeBatch) + Volatile.Read(ref _waiting);

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

    /// <summary>
    /// Queues one sentence; its audio chunks arrive on the returned reader, which completes when it is done. Cancelling
    /// <paramref name="cancellationToken"/> before a worker takes the sentence withdraws it from the queue at once.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The scheduler is disposed.</exception>
    public ChannelReader<AudioChunk> Submit(
        string priority, ISpeechModel model, SynthesisRequest request, CancellationToken cancellationToken)
    {
        var output = Channel.CreateUnbounded<AudioChunk>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var item = new WorkItem(priority, model, request, output.Writer, Stopwatch.GetTimestamp(), cancellationToken);

        // Registered before the sentence is queued, so no worker takes it without its registration. A cancelled request
        // leaves nothing behind in the queue: its sentences would count in Load (which the gateway balances on) and hold
        // their readers until a worker got to them, behind every sentence queued ahead.
        item.Registration = cancellationToken.UnsafeRegister(
            static (state, token) =>
            {
                var (scheduler, withdrawn) = ((SynthesisScheduler, WorkItem))state!;
                scheduler.Withdraw(withdrawn, new OperationCanceledException(token));
            },
            (this, item));

        bool disposed;
        lock (_gate)
        {
            disposed = _disposed;
            if (!disposed && item.State == WorkState.Pending)
            {
                var queue = priority == PriorityClasses.Realtime ? _realtime : _batch;
                item.Node = queue.AddLast(item);
                item.State = WorkState.Queued;
                _waiting++;
                _observer.Queued(priority, queue.Count);
                _queued.Release();
            }
        }

        if (disposed)
        {
            item.Registration.Dispose();
            throw new ObjectDisposedException(nameof(SynthesisScheduler));
        }

        return output.Reader;
    }

    public async ValueTask DisposeAsync()
    {
        WorkItem[] abandoned;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            abandoned = [.. _realtime, .. _batch];
        }

        // No worker takes these any more (a sentence a worker already has finishes): their readers end now instead of
        // waiting forever.
        foreach (var item in abandoned)
        {
            item.Registration.Dispose();
            Withdraw(item, new ObjectDisposedException(nameof(SynthesisScheduler), "The backend stopped before this sentence was synthesized."));
        }

        await _stopping.CancelAsync();
        try
        {
            await Task.WhenAll(_workers).WaitAsync(_engineWork.TimeLeft());
        }
        catch (TimeoutException)
        {
            // The stop token and the semaphore stay undisposed: a worker still running reads them when its sentence ends.
            LogSentencesStillRunning(_logger, _workers.Count(worker => !worker.IsCompleted), _engineWork.Wait.TotalSeconds);
            return;
        }

        _stopping.Dispose();
        _queued.Dispose();
    }

    private void Release(bool isRealtime) => Interlocked.Decrement(ref isRealtime ? ref _activeRealtime : ref _activeBatch);

    /// <summary>Takes a sentence out of the scheduler for good, unless a worker has it already, and ends its reader.</summary>
    private void Withdraw(WorkItem item, Exception reason)
    {
        lock (_gate)
        {
            switch (item.State)
            {
                case WorkState.Pending:
                    break; // cancelled while it was being submitted: Submit leaves it out
                case WorkState.Queued:
                    var queue = item.Node!.List!;
                    queue.Remove(item.Node);
                    item.Node = null;
                    _waiting--;
                    _observer.Withdrawn(item.Priority, queue.Count);
                    break;
                default:
                    return; // on a worker, where the model sees the token; or withdrawn already
            }

            item.State = WorkState.Withdrawn;
        }

        item.Output.TryComplete(reason);
    }

    /// <summary>Runs sentences until the scheduler stops; a stop is its normal end, so only a real fault fails the task.</summary>
    private async Task RunWorkerAsync()
    {
        try
        {
            while (!_stopping.IsCancellationRequested)
            {
                await _queued.WaitAsync(_stopping.Token);
                if (TakeNext() is { } item)
                {
                    await RunAsync(item);
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // Disposed while waiting for a sentence.
        }
    }

    /// <summary>
    /// The first realtime sentence, else the first batch one; null when the sentence a permit was released for has been
    /// withdrawn since.
    /// </summary>
    private WorkItem? TakeNext()
    {
        WorkItem item;
        lock (_gate)
        {
            var queue = _realtime.Count > 0 ? _realtime : _batch;
            if (queue.First is not { } first)
            {
                return null;
            }

            queue.RemoveFirst();
            item = first.Value;
            item.Node = null;
            item.State = WorkState.Taken;
            _waiting--;
            _observer.Dequeued(item.Priority, queue.Count, Stopwatch.GetElapsedTime(item.QueuedAt));
        }

        // From here on the request's cancellation reaches the sentence through the model's token.
        item.Registration.Dispose();
        return item;
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Sentences} sentences still on the engine when the {Seconds} s given to work on the engine after the drain ran out, deaf to cancellation; stopping without them")]
    private static partial void LogSentencesStillRunning(ILogger logger, int sentences, double seconds);

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

    private enum WorkState
    {
        Pending,
        Queued,
        Taken,
        Withdrawn,
    }

    private sealed class WorkItem(
        string priority,
        ISpeechModel model,
        SynthesisRequest request,
        ChannelWriter<AudioChunk> output,
        long queuedAt,
        CancellationToken cancellationToken)
    {
        public string Priority { get; } = priority;

        public ISpeechModel Model { get; } = model;

        public SynthesisRequest Request { get; } = request;

        public ChannelWriter<AudioChunk> Output { get; } = output;

        public long QueuedAt { get; } = queuedAt;

        public CancellationToken CancellationToken { get; } = cancellationToken;

        /// <summary>Set before the sentence is queued; disposed by whoever takes it out of the queue.</summary>
        public CancellationTokenRegistration Registration { get; set; }

        // State and Node change under the scheduler's gate only.
        public WorkState State { get; set; }

        public LinkedListNode<WorkItem>? Node { get; set; }
    }
}

/// <param name="Workers">Concurrent synthesis workers (<c>WORKERS</c>).</param>
/// <param name="MaxActiveRealtime">Realtime requests admitted at once; more get 429.</param>
/// <param name="MaxActiveBatch">Batch requests admitted at once; more get 429.</param>
public sealed record SchedulerLimits(int Workers, int MaxActiveRealtime, int MaxActiveBatch);

/// <summary>What the scheduler reports, so the host can export it without the pipeline knowing Prometheus.</summary>
public interface ISchedulerObserver
{
    /// <summary>
    /// A sentence joined its queue, now <paramref name="depth"/> long. This, <see cref="Dequeued"/> and
    /// <see cref="Withdrawn"/> are called under the scheduler's lock, in the order the queue changed: they note the
    /// figures and return, never calling back.
    /// </summary>
    void Queued(string priority, int depth);

    /// <summary>A worker took a sentence from its queue, now <paramref name="depth"/> long, after <paramref name="wait"/> in it.</summary>
    void Dequeued(string priority, int depth, TimeSpan wait);

    /// <summary>
    /// A sentence left its queue, now <paramref name="depth"/> long, without a worker: its request was cancelled or the
    /// scheduler stopped first. Its time queued ended in no work, so it is no wait for a worker.
    /// </summary>
    void Withdrawn(string priority, int depth);

    /// <summary>A worker finished one sentence: <paramref name="elapsed"/> from taking it to its last audio chunk.</summary>
    void Synthesized(string priority, string model, TimeSpan elapsed)
    {
    }
}
