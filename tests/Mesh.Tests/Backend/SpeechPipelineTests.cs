using System.Diagnostics;
using Mesh.Backend.Pipeline;
using Mesh.Backend.Pipeline.Scheduling;
using Mesh.Contracts;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Tests.Backend;

/// <summary>Timing tests: they run alone, so other tests' processes do not skew the clock.</summary>
[Collection(TimingDefinition.Name)]
public sealed class SpeechPipelineTests
{
    private static readonly TimeSpan SentenceTime = TimeSpan.FromMilliseconds(200);

    [Fact]
    public async Task First_audio_waits_for_one_sentence_whatever_the_number_of_sentences()
    {
        var model = new FakeSpeechModel(SentenceTime);
        await using var scheduler = NewScheduler();
        var pipeline = new SpeechPipeline(scheduler, new PipelineOptions(Lookahead: 2));

        // A warm-up run, then the median of three per length: a shared machine's hiccup must not decide the test.
        await TimeToFirstAudioAsync(pipeline, model, Sentences(3));
        var shortText = await MedianTimeToFirstAudioAsync(pipeline, model, Sentences(3));
        var longText = await MedianTimeToFirstAudioAsync(pipeline, model, Sentences(36));

        Assert.InRange(shortText.TotalMilliseconds, SentenceTime.TotalMilliseconds * 0.9, SentenceTime.TotalMilliseconds * 2);
        Assert.InRange(longText.TotalMilliseconds, SentenceTime.TotalMilliseconds * 0.9, SentenceTime.TotalMilliseconds * 2);
    }

    [Fact]
    public async Task The_next_sentences_are_on_the_engine_while_one_streams_out()
    {
        var model = new FakeSpeechModel(SentenceTime);
        await using var scheduler = NewScheduler(workers: 3);
        var pipeline = new SpeechPipeline(scheduler, new PipelineOptions(Lookahead: 2));
        await TimeToFirstAudioAsync(pipeline, model, Sentences(1)); // cold start (JIT, native libraries) is not scheduling

        // Serial synthesis would take 6 × 200 ms; with two sentences ahead on three workers it takes about two rounds.
        // Serial synthesis fails every try; up to three tries let a stall of the whole test process pass.
        var times = new List<TimeSpan>();
        while (times.Count < 3 && (times.Count == 0 || times[^1] >= SentenceTime * 4.5))
        {
            var stopwatch = Stopwatch.StartNew();
            var sentences = 0;
            await foreach (var pipelineEvent in pipeline.RunAsync(Job(model, Sentences(6)), CancellationToken.None))
            {
                sentences += pipelineEvent is SentenceCompleted ? 1 : 0;
            }

            Assert.Equal(6, sentences);
            times.Add(stopwatch.Elapsed);
        }

        Assert.True(times[^1] < SentenceTime * 4.5, $"took {string.Join(", ", times.Select(t => $"{t.TotalMilliseconds:0}"))} ms");
    }

    [Fact]
    public async Task Only_the_first_sentence_of_each_request_is_marked_as_awaited()
    {
        var model = new FakeSpeechModel(TimeSpan.FromMilliseconds(5));
        await using var scheduler = NewScheduler();
        var pipeline = new SpeechPipeline(scheduler, new PipelineOptions(Lookahead: 2));

        for (var request = 0; request < 2; request++)
        {
            await foreach (var _ in pipeline.RunAsync(Job(model, Sentences(5)), CancellationToken.None))
            {
            }
        }

        var requests = model.Requests.ToList();
        Assert.Equal(10, requests.Count);
        Assert.Equal([0, 5], requests.Select((request, index) => (request, index)).Where(pair => pair.request.FirstAudioAwaited).Select(pair => pair.index));
    }

    [Fact]
    public async Task Every_sentence_but_the_last_of_a_request_is_marked_as_followed_by_more_text()
    {
        var model = new FakeSpeechModel(TimeSpan.FromMilliseconds(5));
        await using var scheduler = NewScheduler();
        var pipeline = new SpeechPipeline(scheduler, new PipelineOptions(Lookahead: 2));

        foreach (var text in new[] { Sentences(4), Sentences(1) })
        {
            await foreach (var _ in pipeline.RunAsync(Job(model, text), CancellationToken.None))
            {
            }
        }

        Assert.Equal([true, true, true, false, false], model.Requests.Select(request => request.TextContinues));
    }

    [Fact]
    public async Task Stopping_the_consumer_cancels_the_sentences_not_yet_synthesized()
    {
        var model = new FakeSpeechModel(SentenceTime);
        await using var scheduler = NewScheduler();
        var pipeline = new SpeechPipeline(scheduler, new PipelineOptions(Lookahead: 2));

        await foreach (var pipelineEvent in pipeline.RunAsync(Job(model, Sentences(20)), CancellationToken.None))
        {
            if (pipelineEvent is AudioProduced)
            {
                break;
            }
        }

        await Task.Delay(SentenceTime * 3);
        // The sentence on the engine at that moment may have started; the one queued behind it must not.
        Assert.InRange(model.SentencesStarted, 1, 2);
    }

    [Fact]
    public async Task A_realtime_sentence_does_not_wait_behind_a_batch_paragraph()
    {
        var model = new FakeSpeechModel(SentenceTime);
        await using var scheduler = NewScheduler(workers: 1);
        var pipeline = new SpeechPipeline(scheduler, new PipelineOptions(Lookahead: 4));
        await TimeToFirstAudioAsync(pipeline, model, Sentences(1)); // cold start (JIT, native libraries) is not scheduling

        // At most the batch sentence already on the engine, then its own: never the four queued ahead of it. A wrong
        // order fails every try; up to three tries let a stall of the whole process (another test's cleanup, a GC) pass.
        var waits = new List<TimeSpan>();
        while (waits.Count < 3 && (waits.Count == 0 || waits[^1] >= SentenceTime * 2.2))
        {
            var batch = TimeToFirstAudioAsync(pipeline, model, Sentences(10), PriorityClasses.Batch, drain: true);
            await Task.Delay(SentenceTime / 2);
            waits.Add(await TimeToFirstAudioAsync(pipeline, model, Sentences(1), PriorityClasses.Realtime));
            await batch;
        }

        Assert.True(waits[^1] < SentenceTime * 2.2, $"realtime waited {string.Join(", ", waits.Select(w => $"{w.TotalMilliseconds:0}"))} ms");
    }

    [Fact]
    public async Task Admission_is_bounded_per_class()
    {
        await using var scheduler = new SynthesisScheduler(new SchedulerLimits(1, 2, 1), new EngineWorkDeadline(), new NullSchedulerObserver(), NullLogger.Instance);

        using var first = scheduler.TryAdmit(PriorityClasses.Batch);
        Assert.NotNull(first);
        Assert.Null(scheduler.TryAdmit(PriorityClasses.Batch));
        using var realtime = scheduler.TryAdmit(PriorityClasses.Realtime);
        Assert.NotNull(realtime);

        first.Dispose();
        using var again = scheduler.TryAdmit(PriorityClasses.Batch);
        Assert.NotNull(again);
    }

    private static SynthesisScheduler NewScheduler(int workers = 1) =>
        new(new SchedulerLimits(workers, 100, 100), new EngineWorkDeadline(), new NullSchedulerObserver(), NullLogger.Instance);

    private static string Sentences(int count) =>
        string.Join(' ', Enumerable.Range(1, count).Select(i => $"This is sentence number {i}."));

    private static SpeechJob Job(FakeSpeechModel model, string text, string priority = PriorityClasses.Realtime) =>
        new(model, text, FakeSpeechModel.Voice, 1.0, model.NativeSampleRate, priority);

    private static async Task<TimeSpan> MedianTimeToFirstAudioAsync(SpeechPipeline pipeline, FakeSpeechModel model, string text)
    {
        var times = new List<TimeSpan>();
        for (var i = 0; i < 3; i++)
        {
            times.Add(await TimeToFirstAudioAsync(pipeline, model, text));
        }

        return times.Order().ElementAt(1);
    }

    private static async Task<TimeSpan> TimeToFirstAudioAsync(
        SpeechPipeline pipeline, FakeSpeechModel model, string text, string priority = PriorityClasses.Realtime, bool drain = false)
    {
        var stopwatch = Stopwatch.StartNew();
        TimeSpan? firstAudio = null;
        await foreach (var pipelineEvent in pipeline.RunAsync(Job(model, text, priority), CancellationToken.None))
        {
            if (pipelineEvent is AudioProduced && firstAudio is null)
            {
                firstAudio = stopwatch.Elapsed;
                if (!drain)
                {
                    break;
                }
            }
        }

        return firstAudio ?? throw new InvalidOperationException("no audio");
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingDefinition
{
    public const string Name = "timing";
}
