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
        var sentences = SentenceSplitter.SplitForSynthesis(job.Text, options.MaxSentenceLength);
        var model = job.Model;
        var nativeSpeed = model.NativeSpeed.Clamp(job.Speed);
        using var transforms = AudioTransforms.Chain(model.NativeSampleRate, job.Speed / nativeSpeed, job.OutputSampleRate);

        // Cancelling this stops every sentence still queued or on the engine when the consumer stops early.
        using var work = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var submitted = new Queue<ChannelReader<AudioChunk>>();
        var nextToSubmit = 0;
        try
        {
            for (var index = 0; index < sentences.Count; index++)
            {
                for (; nextToSubmit < sentences.Count && nextToSubmit <= index + options.Lookahead; nextToSubmit++)
                {
                    var request = new SynthesisRequest(sentences[nextToSubmit], job.Voice, nativeSpeed);
                    submitted.Enqueue(scheduler.Submit(job.Priority, model, request, work.Token));
                }

                yield return new SentenceStarted(index, sentences[index]);
                await foreach (var chunk in submitted.Dequeue().ReadAllAsync(cancellationToken))
                {
                    var samples = transforms.Process(chunk.Samples);
                    if (samples.Length > 0)
                    {
                        yield return new AudioProduced(index, samples);
                    }
                }

                if (index == sentences.Count - 1)
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
}
