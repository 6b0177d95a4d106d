using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Mesh.Backend.ModelFamilies;
using Mesh.Backend.Pipeline.Audio;
using Mesh.Backend.Pipeline.Scheduling;
using Mesh.Backend.Pipeline.Text;

namespace Mesh.Backend.Pipeline;

/// <param name="Lookahead">Sentences submitted to the engine ahead of the one being streamed out.</param>
public sealed record PipelineOptions(int Lookahead = 2, int MaxSentenceLength = SentenceSplitter.DefaultMaxSentenceLength);

/// <summary>
/// Text → sentences → engine (through the scheduler) → speed → resampling, streamed sentence by sentence.
/// While sentence N is post-processed and written, sentences N+1 … N+lookahead are already on the engine, so the
/// first audio waits only for the first sentence, whatever the length of the text.
/// </summary>
public sealed class SpeechPipeline(SynthesisScheduler scheduler, PipelineOptions options)
{
    public async IAsyncEnumerable<PipelineEvent> RunAsync(SpeechJob job, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var model = job.Model;
        var nativeSpeed = model.NativeSpeed.Clamp(job.Speed);
        using var transforms = AudioTransforms.Chain(model.NativeSampleRate, job.Speed / nativeSpeed, job.OutputSampleRate);

        // Cancelling this stops every sentence still queued or on the engine when the consumer stops early.
        using var work = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        // Sentences are found as they are needed (the splitter stays one ahead, to know which is the last), so the
        // first audio waits for the first sentence, never for the scan of the whole text.
        using var sentences = SentenceSplitter.SplitForSynthesis(job.Text, options.MaxSentenceLength).GetEnumerator();
        var submitted = new Queue<(string Text, ChannelReader<AudioChunk> Audio)>();
        var unsubmitted = sentences.MoveNext();
        try
        {
            for (var index = 0; unsubmitted || submitted.Count > 0; index++)
            {
                while (unsubmitted && submitted.Count <= options.Lookahead)
                {
                    var request = new SynthesisRequest(sentences.Current, job.Voice, nativeSpeed, FirstAudioAwaited: index == 0 && submitted.Count == 0);
                    submitted.Enqueue((sentences.Current, scheduler.Submit(job.Priority, model, request, work.Token)));
                    unsubmitted = sentences.MoveNext();
                }

                var (text, audio) = submitted.Dequeue();
                yield return new SentenceStarted(index, text);
                await foreach (var chunk in audio.ReadAllAsync(cancellationToken))
                {
                    var samples = transforms.Process(Sanitize(chunk.Samples));
                    if (samples.Length > 0)
                    {
                        yield return new AudioProduced(index, samples);
                    }
                }

                if (!unsubmitted && submitted.Count == 0)
                {
                    var tail = transforms.Flush();
                    if (tail.Length > 0)
                    {
                        yield return new AudioProduced(index, tail);
                    }
                }

                yield return new SentenceCompleted(index);
            }
        }
        finally
        {
            await work.CancelAsync();
        }
    }

    /// <summary>
    /// Silences non-finite samples and clips the rest to [-1, 1], in place (the chunk is this request's alone), before
    /// any filter sees them: one NaN would become tens of milliseconds of NaN in the resampler, and NaN, infinite or
    /// huge samples make LAME abort the whole process on an assertion.
    /// </summary>
    private static float[] Sanitize(float[] samples)
    {
        for (var i = 0; i < samples.Length; i++)
        {
            samples[i] = float.IsFinite(samples[i]) ? Math.Clamp(samples[i], -1f, 1f) : 0f;
        }

        return samples;
    }
}
