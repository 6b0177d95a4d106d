using System.Runtime.CompilerServices;
using Mesh.Backend.ModelFamilies;
using Mesh.Backend.Pipeline;
using Mesh.Backend.Pipeline.Scheduling;
using Mesh.Contracts;

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

    private static async Task<float[]> RunAsync(float[] samples, double speed, int outputRate)
    {
        await using var scheduler = new SynthesisScheduler(new SchedulerLimits(1, 1, 1), new IgnoredSchedule());
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

    private sealed class IgnoredSchedule : ISchedulerObserver
    {
        public void Queued(string priority, int depth)
        {
        }

        public void Dequeued(string priority, int depth, TimeSpan wait)
        {
        }
    }
}
