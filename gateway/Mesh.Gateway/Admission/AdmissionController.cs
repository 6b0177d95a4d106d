using System.Diagnostics;
using Mesh.Contracts;

namespace Mesh.Gateway.Admission;

/// <summary>The outcome of asking for a slot: a lease to hold while forwarding, or the reason the request was shed.</summary>
public sealed record Admission(AdmissionController.Lease? Lease, string? ShedReason, TimeSpan QueueWait);

/// <summary>
/// Priority admission over <c>TotalConcurrency</c> slots. Realtime may take any free slot; batch never takes the last
/// <c>RealtimeReserved</c> ones that realtime is not using. Each class waits in a bounded FIFO queue with a deadline.
/// A freed slot goes to realtime first. Batch is shed first: while realtime requests wait, new batch requests and
/// those already queued are turned away at once (429) instead of waiting behind them.
/// </summary>
public sealed class AdmissionController(Func<AdmissionOptions> options)
{
    public const string QueueFull = "queue_full";
    public const string QueueTimeout = "queue_timeout";
    public const string RealtimePressure = "realtime_pressure";

    private const string Granted = "granted";

    private readonly Lock _lock = new();
    private readonly LinkedList<Waiter> _realtimeQueue = new();
    private readonly LinkedList<Waiter> _batchQueue = new();
    private int _runningRealtime;
    private int _runningBatch;

    public async Task<Admission> AcquireAsync(string priority, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var settings = options();
        var isRealtime = priority == PriorityClasses.Realtime;
        Waiter waiter;
        lock (_lock)
        {
            if (Queue(priority).Count == 0 && CanStart(isRealtime, settings))
            {
                return new Admission(StartLocked(isRealtime), null, TimeSpan.Zero);
            }

            if (!isRealtime && _realtimeQueue.Count > 0)
            {
                return new Admission(null, RealtimePressure, TimeSpan.Zero);
            }

            var limits = isRealtime ? settings.Realtime : settings.Batch;
            if (Queue(priority).Count >= limits.MaxQueue)
            {
                return new Admission(null, QueueFull, TimeSpan.Zero);
            }

            waiter = new Waiter();
            waiter.Node = Queue(priority).AddLast(waiter);
            if (isRealtime)
            {
                // Realtime has to wait: batch waiting behind it will not get a slot soon, so tell those clients now.
                foreach (var batch in _batchQueue)
                {
                    batch.Completion.TrySetResult(RealtimePressure);
                }

                _batchQueue.Clear();
                PublishDepthLocked(PriorityClasses.Batch);
            }

            PublishDepthLocked(priority);
        }

        var timeout = TimeSpan.FromMilliseconds(isRealtime ? settings.Realtime.QueueTimeoutMs : settings.Batch.QueueTimeoutMs);
        string? outcome;
        try
        {
            outcome = await waiter.Completion.Task.WaitAsync(timeout, cancellationToken);
        }
        catch (Exception ex)
        {
            // Whatever ended the wait (deadline, client gone, a bad timeout), the waiter must leave its queue: one left
            // behind would be granted a slot by a later release that nobody ever frees.
            if (!Withdraw(waiter, priority))
            {
                // Given a slot or a verdict in the same instant: it was set under the lock, so this does not wait.
                outcome = await waiter.Completion.Task;
            }
            else if (ex is TimeoutException)
            {
                return new Admission(null, QueueTimeout, Stopwatch.GetElapsedTime(started));
            }
            else
            {
                throw;
            }
        }

        return outcome == Granted
            ? new Admission(new Lease(this, isRealtime), null, Stopwatch.GetElapsedTime(started))
            : new Admission(null, outcome, Stopwatch.GetElapsedTime(started));
    }

    /// <summary>
    /// Takes a waiter out of its queue; false when it had left it already, given a slot or a verdict in the same
    /// instant, which the caller honours.
    /// </summary>
    private bool Withdraw(Waiter waiter, string priority)
    {
        lock (_lock)
        {
            if (waiter.Node!.List is null)
            {
                return false;
            }

            waiter.Node.List.Remove(waiter.Node);
            PublishDepthLocked(priority);
            return true;
        }
    }

    private LinkedList<Waiter> Queue(string priority) => priority == PriorityClasses.Realtime ? _realtimeQueue : _batchQueue;

    // Under the lock, so concurrent changes cannot publish their counts out of order.
    private void PublishDepthLocked(string priority) => GatewayMetrics.QueueDepth.WithLabels(priority).Set(Queue(priority).Count);

    private bool CanStart(bool isRealtime, AdmissionOptions settings)
    {
        var running = _runningRealtime + _runningBatch;
        if (isRealtime)
        {
            return running < settings.TotalConcurrency;
        }

        var reservedFree = Math.Max(0, settings.RealtimeReserved - _runningRealtime);
        return running < settings.TotalConcurrency - reservedFree;
    }

    private Lease StartLocked(bool isRealtime)
    {
        if (isRealtime)
        {
            _runningRealtime++;
        }
        else
        {
            _runningBatch++;
        }

        return new Lease(this, isRealtime);
    }

    private void Release(bool isRealtime)
    {
        lock (_lock)
        {
            if (isRealtime)
            {
                _runningRealtime--;
            }
            else
            {
                _runningBatch--;
            }

            var settings = options();
            GrantLocked(_realtimeQueue, true, settings);
            if (_realtimeQueue.Count == 0)
            {
                GrantLocked(_batchQueue, false, settings);
            }
        }
    }

    private void GrantLocked(LinkedList<Waiter> queue, bool isRealtime, AdmissionOptions settings)
    {
        while (queue.First is { } next && CanStart(isRealtime, settings))
        {
            queue.RemoveFirst();
            if (isRealtime)
            {
                _runningRealtime++;
            }
            else
            {
                _runningBatch++;
            }

            next.Value.Completion.TrySetResult(Granted);
        }

        PublishDepthLocked(isRealtime ? PriorityClasses.Realtime : PriorityClasses.Batch);
    }

    /// <summary>A granted slot; disposing it frees the slot for the next waiter.</summary>
    public sealed class Lease : IDisposable
    {
        private AdmissionController? _owner;
        private readonly bool _isRealtime;

        internal Lease(AdmissionController owner, bool isRealtime)
        {
            _owner = owner;
            _isRealtime = isRealtime;
        }

        public void Dispose() => Interlocked.Exchange(ref _owner, null)?.Release(_isRealtime);
    }

    private sealed class Waiter
    {
        public TaskCompletionSource<string> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public LinkedListNode<Waiter>? Node { get; set; }
    }
}
