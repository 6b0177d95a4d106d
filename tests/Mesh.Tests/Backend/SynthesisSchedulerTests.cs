using System.Diagnostics;
using System.Threading.Channels;
using Mesh.Backend.Host;
using Mesh.Backend.ModelFamilies;
using Mesh.Backend.Pipeline.Scheduling;
using Mesh.Contracts;
using Mesh.Tests.Quantizer;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Tests.Backend;

/// <summary>The scheduler's queue: what happens to sentences no worker has taken yet.</summary>
public sealed class SynthesisSchedulerTests
{
    // Long enough that the sentence on the engine outlasts every check made while it runs; such sentences are cancelled.
    private static readonly TimeSpan LongSentence = TimeSpan.FromSeconds(30);

    // A wait that only a hang exceeds.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Sentences_of_a_cancelled_request_leave_the_load_and_the_queue_at_once_and_count_in_no_queue_wait()
    {
        var backend = $"cancelled-{Guid.NewGuid():N}";
        var depth = BackendMetrics.QueueDepth.WithLabels(backend, "test", PriorityClasses.Batch);
        var model = new FakeSpeechModel(LongSentence);
        await using var scheduler = new SynthesisScheduler(
            new SchedulerLimits(1, 10, 10), new EngineWorkDeadline(), new BackendMetrics.SchedulerObserver(backend, "test"), NullLogger.Instance);
        using var onEngine = new CancellationTokenSource();
        var running = Submit(scheduler, model, PriorityClasses.Batch, onEngine.Token);
        await WaitUntilAsync(() => model.SentencesStarted == 1);

        using var request = new CancellationTokenSource();
        var queued = Enumerable.Range(0, 3).Select(_ => Submit(scheduler, model, PriorityClasses.Batch, request.Token)).ToArray();
        Assert.Equal(3, scheduler.Load);
        Assert.Equal(3, depth.Value);

        // Before: all three stayed in the queue and in Load until the sentence on the engine ended.
        await request.CancelAsync();
        Assert.Equal(0, scheduler.Load);
        Assert.Equal(0, depth.Value);
        foreach (var reader in queued)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ReadToEndAsync(reader));
        }

        // No worker took them: only the sentence on the engine waited for one. Before, each withdrawn sentence was
        // observed as a wait too, 4 in all.
        Assert.Equal(1, BackendMetrics.QueueWait.WithLabels(backend, "test", PriorityClasses.Batch).Count);

        await onEngine.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ReadToEndAsync(running));
        Assert.Equal(1, model.SentencesStarted);
    }

    [Fact]
    public async Task Cancelled_sentences_keep_realtime_ahead_of_batch()
    {
        var model = new FakeSpeechModel(TimeSpan.FromMilliseconds(20));
        await using var scheduler = new SynthesisScheduler(new SchedulerLimits(1, 10, 10), new EngineWorkDeadline(), new NullSchedulerObserver(), NullLogger.Instance);
        var engine = new FakeSpeechModel(LongSentence);
        using var onEngine = new CancellationTokenSource();
        var running = Submit(scheduler, engine, PriorityClasses.Batch, onEngine.Token);
        await WaitUntilAsync(() => engine.SentencesStarted == 1);

        using var cancelled = new CancellationTokenSource();
        var batch = Submit(scheduler, model, PriorityClasses.Batch, CancellationToken.None, "batch");
        _ = Submit(scheduler, model, PriorityClasses.Realtime, cancelled.Token, "withdrawn");
        var realtime = Submit(scheduler, model, PriorityClasses.Realtime, CancellationToken.None, "realtime");
        await cancelled.CancelAsync();
        Assert.Equal(2, scheduler.Load);

        await onEngine.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ReadToEndAsync(running));
        await ReadToEndAsync(realtime);
        await ReadToEndAsync(batch);
        Assert.Equal(["realtime", "batch"], model.Requests.Select(r => r.Text));
    }

    [Fact]
    public async Task Sentences_still_queued_at_dispose_fail_instead_of_waiting_forever()
    {
        var model = new FakeSpeechModel(TimeSpan.FromMilliseconds(200));
        var scheduler = new SynthesisScheduler(new SchedulerLimits(1, 10, 10), new EngineWorkDeadline(), new NullSchedulerObserver(), NullLogger.Instance);
        var running = Submit(scheduler, model, PriorityClasses.Realtime, CancellationToken.None);
        await WaitUntilAsync(() => model.SentencesStarted == 1);
        var queued = Submit(scheduler, model, PriorityClasses.Batch, CancellationToken.None);

        await scheduler.DisposeAsync();

        // The sentence on the engine finishes; the one no worker took ends as well. Before, its reader never completed.
        await ReadToEndAsync(running);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => ReadToEndAsync(queued));
        Assert.Equal(1, model.SentencesStarted);
        Assert.Throws<ObjectDisposedException>(() => Submit(scheduler, model, PriorityClasses.Batch, CancellationToken.None));
    }

    [Fact]
    public async Task Dispose_stops_waiting_for_a_sentence_deaf_to_cancellation_and_says_how_many_it_left()
    {
        var model = new FakeSpeechModel(LongSentence, deafToCancellation: true);
        var log = new RecordingLogger();
        var scheduler = new SynthesisScheduler(new SchedulerLimits(2, 10, 10), new EngineWorkDeadline(), new NullSchedulerObserver(), log);
        using var request = new CancellationTokenSource();
        _ = Submit(scheduler, model, PriorityClasses.Batch, request.Token);
        await WaitUntilAsync(() => model.SentencesStarted == 1);
        await request.CancelAsync();

        // Before, dispose waited for the sentence to end: here 30 s, for a hung native call until SIGKILL.
        var disposing = Stopwatch.StartNew();
        await scheduler.DisposeAsync().AsTask().WaitAsync(Patience);

        Assert.True(disposing.Elapsed >= TimeSpan.FromSeconds(1.5), $"disposed in {disposing.Elapsed}");
        var warning = Assert.Single(log.Lines);
        Assert.StartsWith("Warning: 1 sentences still on the engine when the 2 s given to work on the engine after the drain ran out", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dispose_reports_a_worker_that_failed_instead_of_hiding_it()
    {
        var model = new FakeSpeechModel(TimeSpan.FromMilliseconds(20));
        var scheduler = new SynthesisScheduler(new SchedulerLimits(1, 10, 10), new EngineWorkDeadline(), new FailingObserver(), NullLogger.Instance);
        _ = Submit(scheduler, model, PriorityClasses.Realtime, CancellationToken.None);
        await WaitUntilAsync(() => scheduler.Load == 0);

        // Before, dispose swallowed every worker's end alike, so a worker that died went unnoticed.
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => scheduler.DisposeAsync().AsTask().WaitAsync(Patience));
        Assert.Equal(FailingObserver.Message, failure.Message);
    }

    [Fact]
    public async Task The_queue_depth_last_published_is_the_queue_s_though_a_worker_takes_the_sentence_as_it_is_queued()
    {
        var depths = new SlowQueuedNotes();
        var model = new FakeSpeechModel(TimeSpan.FromMilliseconds(1));
        await using var scheduler = new SynthesisScheduler(new SchedulerLimits(1, 10, 10), new EngineWorkDeadline(), depths, NullLogger.Instance);
        // A first sentence, so that the worker waits for the next one, ready to take it at once.
        await ReadToEndAsync(Submit(scheduler, model, PriorityClasses.Realtime, CancellationToken.None));

        depths.QueuedDelay = TimeSpan.FromMilliseconds(300);
        await ReadToEndAsync(Submit(scheduler, model, PriorityClasses.Realtime, CancellationToken.None));

        // The queue is empty. Before, the depth was noted after the lock was let go, so the worker's 0 came first and
        // the Submit's 1 last: the gauge read 1 until the next sentence.
        Assert.Equal(0, depths.Last);
    }

    private static ChannelReader<AudioChunk> Submit(
        SynthesisScheduler scheduler, FakeSpeechModel model, string priority, CancellationToken cancellationToken, string text = "A sentence.") =>
        scheduler.Submit(priority, model, new SynthesisRequest(text, FakeSpeechModel.Voice, 1.0), cancellationToken);

    /// <summary>Reads a sentence's audio to its end, throwing what ended it; a hang fails with a TimeoutException.</summary>
    private static Task ReadToEndAsync(ChannelReader<AudioChunk> reader) => ReadAllAsync(reader).WaitAsync(Patience);

    private static async Task ReadAllAsync(ChannelReader<AudioChunk> reader)
    {
        await foreach (var _ in reader.ReadAllAsync())
        {
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition never held");
            await Task.Delay(5);
        }
    }

    /// <summary>Fails the worker that takes a sentence, as a fault outside the model's synthesis would.</summary>
    private sealed class FailingObserver : ISchedulerObserver
    {
        public const string Message = "observer failed";

        public void Queued(string priority, int depth)
        {
        }

        public void Dequeued(string priority, int depth, TimeSpan wait) => throw new InvalidOperationException(Message);

        public void Withdrawn(string priority, int depth)
        {
        }
    }

    /// <summary>Notes each published depth, the Submit's after <see cref="QueuedDelay"/>, as a preempted thread might.</summary>
    private sealed class SlowQueuedNotes : ISchedulerObserver
    {
        private int _last = -1;

        public TimeSpan QueuedDelay { get; set; }

        public int Last => Volatile.Read(ref _last);

        public void Queued(string priority, int depth)
        {
            Thread.Sleep(QueuedDelay);
            Volatile.Write(ref _last, depth);
        }

        public void Dequeued(string priority, int depth, TimeSpan wait) => Volatile.Write(ref _last, depth);

        public void Withdrawn(string priority, int depth) => Volatile.Write(ref _last, depth);
    }
}
