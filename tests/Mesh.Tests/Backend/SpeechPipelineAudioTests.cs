using System.Runtime.CompilerServices;
using Mesh.Backend.ModelFamilies;
using Mesh.Backend.Pipeline;
using Mesh.Backend.Pipeline.Audio;
using Mesh.Backend.Pipeline.Scheduling;
using Mesh.Backend.Pipeline.Text;
using Mesh.Contracts;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Tests.Backend;

/// <summary>What the pipeline does to the samples a model hands it, through the real time stretch and resampler.</summary>
public sealed class SpeechPipelineAudioTests
{
    private const int NativeRate = 24000;

    [Fact]
    public async Task Non_finite_model_samples_are_silenced_and_out_of_range_ones_clipped_before_any_filter()
    {
        var clean = TestAudio.Tone(NativeRate, 220, 0.5, amplitude: 0.3);
        float[] bad = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e10f, -1e10f];
        float[] repaired = [0f, 0f, 0f, 1f, -1f];
        var broken = (float[])clean.Clone();
        var expected = (float[])clean.Clone();
        for (var i = 0; i < bad.Length; i++)
        {
            broken[(i + 1) * 2000] = bad[i];
            expected[(i + 1) * 2000] = repaired[i];
        }

        // Speed 1.5 on a model without native speed control, and 48 kHz out: both the stretch and the resampler run.
        var fromBroken = await RunAsync(broken, speed: 1.5, outputRate: 48000);
        var fromExpected = await RunAsync(expected, speed: 1.5, outputRate: 48000);

        // A NaN that reaches the resampler spreads over its whole filter; NaN, infinite or huge samples abort LAME.
        Assert.Equal(0, fromBroken.Count(sample => !float.IsFinite(sample)));
        Assert.Equal(fromExpected, fromBroken);
    }

    [Fact]
    public async Task A_short_first_sentence_gets_its_own_audio_before_the_next_one_starts()
    {
        // All of speed 2.5 is time stretch here, and 8 kHz out: the stretch and the resampler hold back more than the
        // first sentence's whole output, which used to come out only while the second sentence was processed.
        var events = await RunScriptAsync("Hi. And then a much longer second sentence follows it.", speed: 2.5, outputRate: 8000);

        var audio = AudioBySentence(events, sentences: 2);
        var ideal = ScriptedModel.Seconds("Hi.") / 2.5 * 8000;
        Assert.InRange(audio[0].Length, ideal - 8, ideal + 8); // within 1 ms
        Assert.IsType<SentenceStarted>(events[0]);
    }

    [Theory]
    [InlineData("Hi. And then a much longer second sentence follows it.", 2.5, 8000)]
    [InlineData("Hi. Silent. And then a much longer sentence follows it.", 2.5, 8000)]
    [InlineData("Hi. And then a much longer sentence follows it. Silent.", 2.5, 8000)]
    [InlineData("Silent. Hi. And then a much longer sentence follows it.", 2.5, 8000)]
    [InlineData("Silent. Silent. Silent.", 2.5, 8000)]
    [InlineData("Hi. Silent. And then a much longer sentence follows it.", 1.0, 24000)]
    [InlineData("Hi. Silent. And then a much longer sentence follows it.", 1.0, 8000)]
    [InlineData("Hi. Silent. And then a much longer sentence follows it.", 0.5, 48000)]
    public async Task Each_sentence_gets_the_part_of_the_audio_its_input_becomes(string text, double speed, int outputRate)
    {
        var events = await RunScriptAsync(text, speed, outputRate);

        // The same audio as the whole chain gives for the same chunks: only where it is split between sentences moves.
        var sentences = SentenceSplitter.SplitForSynthesis(text).ToList();
        using var chain = AudioTransforms.Chain(NativeRate, speed, outputRate);
        var chunks = sentences.SelectMany(ScriptedModel.Chunks).ToList();
        float[] expected = [.. chunks.SelectMany(chunk => chain.Process(chunk)), .. chain.Flush()];
        var audio = AudioBySentence(events, sentences.Count);
        Assert.Equal(expected, audio.SelectMany(samples => samples));

        // Sentence k's audio is what the input up to its end maps to, less what the input before it does.
        var inputEnds = sentences.Select((_, k) => sentences.Take(k + 1).Sum(s => ScriptedModel.Chunks(s).Sum(chunk => (long)chunk.Length)));
        var outputEnds = inputEnds.Select(chain.OutputLength).ToList();
        Assert.Equal(outputEnds.Select((end, k) => end - (k == 0 ? 0 : outputEnds[k - 1])), audio.Select(samples => (long)samples.Length));
    }

    [Theory]
    [InlineData(1.0, 8000)]
    [InlineData(2.5, 24000)]
    public async Task A_sentence_whose_successor_fails_still_completes_with_all_its_audio(double speed, int outputRate)
    {
        // The chain holds the end of "Hi." back until the next sentence's audio pushes it out; that sentence fails.
        var events = new List<PipelineEvent>();
        await using var scheduler = new SynthesisScheduler(new SchedulerLimits(1, 1, 1), new EngineWorkDeadline(), new NullSchedulerObserver(), NullLogger.Instance);
        var pipeline = new SpeechPipeline(scheduler, new PipelineOptions());
        var job = new SpeechJob(new ScriptedModel(), "Hi. Fail.", ScriptedModel.Voice, speed, outputRate, PriorityClasses.Realtime);

        await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await foreach (var pipelineEvent in pipeline.RunAsync(job, CancellationToken.None))
            {
                events.Add(pipelineEvent);
            }
        });

        // A surface that sends a sentence with its completion (the sentence SSE) still sends the one that was made.
        var audio = AudioBySentence(events, sentences: 1);
        using var chain = AudioTransforms.Chain(NativeRate, speed, outputRate);
        Assert.Equal(chain.OutputLength(ScriptedModel.Chunks("Hi.").Sum(chunk => (long)chunk.Length)), audio[0].Length);
    }

    /// <summary>
    /// Per sentence, its audio, checking that every sentence starts and completes once, in order, and that audio comes
    /// only between its own sentence's start and completion.
    /// </summary>
    private static List<float[]> AudioBySentence(IReadOnlyList<PipelineEvent> events, int sentences)
    {
        var audio = new List<float[]>();
        var current = new List<float>();
        int? open = null;
        foreach (var pipelineEvent in events)
        {
            switch (pipelineEvent)
            {
                case SentenceStarted started:
                    Assert.Null(open);
                    Assert.Equal(audio.Count, started.SentenceIndex);
                    open = started.SentenceIndex;
                    break;
                case AudioProduced produced:
                    Assert.Equal(open, produced.SentenceIndex);
                    current.AddRange(produced.Samples);
                    break;
                case SentenceCompleted completed:
                    Assert.Equal(open, completed.SentenceIndex);
                    audio.Add([.. current]);
                    current.Clear();
                    open = null;
                    break;
            }
        }

        Assert.Null(open);
        Assert.Equal(sentences, audio.Count);
        return audio;
    }

    private static async Task<List<PipelineEvent>> RunScriptAsync(string text, double speed, int outputRate)
    {
        await using var scheduler = new SynthesisScheduler(new SchedulerLimits(1, 1, 1), new EngineWorkDeadline(), new NullSchedulerObserver(), NullLogger.Instance);
        var pipeline = new SpeechPipeline(scheduler, new PipelineOptions());
        var model = new ScriptedModel();
        var job = new SpeechJob(model, text, ScriptedModel.Voice, speed, outputRate, PriorityClasses.Realtime);
        var events = new List<PipelineEvent>();
        await foreach (var pipelineEvent in pipeline.RunAsync(job, CancellationToken.None))
        {
            events.Add(pipelineEvent);
        }

        return events;
    }

    private static async Task<float[]> RunAsync(float[] samples, double speed, int outputRate)
    {
        await using var scheduler = new SynthesisScheduler(new SchedulerLimits(1, 1, 1), new EngineWorkDeadline(), new NullSchedulerObserver(), NullLogger.Instance);
        var pipeline = new SpeechPipeline(scheduler, new PipelineOptions());
        var model = new FixedAudioModel(samples);
        var job = new SpeechJob(model, "One sentence.", FixedAudioModel.Voice, speed, outputRate, PriorityClasses.Realtime);
        var output = new List<float>();
        await foreach (var pipelineEvent in pipeline.RunAsync(job, CancellationToken.None))
        {
            if (pipelineEvent is AudioProduced audio)
            {
                output.AddRange(audio.Samples);
            }
        }

        return [.. output];
    }

    /// <summary>A model at the normal speed only that answers every sentence with a copy of the same samples.</summary>
    private sealed class FixedAudioModel(float[] samples) : ISpeechModel
    {
        public static readonly VoiceDescriptor Voice = new("fixed", "en", "fixed");

        public string Id => "fixed";

        public string Family => "fixed";

        public int NativeSampleRate => NativeRate;

        public IReadOnlyList<VoiceDescriptor> Voices => [Voice];

        public SpeedRange NativeSpeed => SpeedRange.NormalOnly;

        public VoiceDescriptor? ResolveVoice(string voice, string? language) => Voice;

        public async IAsyncEnumerable<AudioChunk> SynthesizeAsync(
            SynthesisRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.Yield();
            yield return new AudioChunk((float[])samples.Clone(), NativeRate);
        }

        public void Dispose()
        {
        }
    }

    /// <summary>
    /// A model at the normal speed only that answers a sentence with speech-like audio 20 ms per character, in 100 ms
    /// chunks, "Silent." with no audio at all, and "Fail." with an engine failure.
    /// </summary>
    private sealed class ScriptedModel : ISpeechModel
    {
        public static readonly VoiceDescriptor Voice = new("scripted", "en", "scripted");

        public string Id => "scripted";

        public string Family => "scripted";

        public int NativeSampleRate => NativeRate;

        public IReadOnlyList<VoiceDescriptor> Voices => [Voice];

        public SpeedRange NativeSpeed => SpeedRange.NormalOnly;

        public static double Seconds(string sentence) => sentence.Trim() is "Silent." or "Fail." ? 0 : 0.02 * sentence.Trim().Length;

        public static IEnumerable<float[]> Chunks(string sentence) =>
            TestAudio.SpeechLike(NativeRate, Seconds(sentence), seed: sentence.Trim().Length).Chunk(NativeRate / 10);

        public VoiceDescriptor? ResolveVoice(string voice, string? language) => Voice;

        public async IAsyncEnumerable<AudioChunk> SynthesizeAsync(
            SynthesisRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            foreach (var chunk in Chunks(request.Text))
            {
                await Task.Yield();
                yield return new AudioChunk(chunk, NativeRate);
            }

            if (request.Text.Trim() == "Fail.")
            {
                throw new InvalidOperationException("Scripted engine failure.");
            }
        }

        public void Dispose()
        {
        }
    }
}
