using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
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
        var alignment = new SentenceAlignment(transforms);

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
                    var sentence = sentences.Current;
                    var firstAudioAwaited = index == 0 && submitted.Count == 0;
                    unsubmitted = sentences.MoveNext();
                    var request = new SynthesisRequest(sentence, job.Voice, nativeSpeed, firstAudioAwaited, TextContinues: unsubmitted);
                    submitted.Enqueue((sentence, scheduler.Submit(job.Priority, model, request, work.Token)));
                }

                var (text, audio) = submitted.Dequeue();
                foreach (var pipelineEvent in alignment.Begin(index, text))
                {
                    yield return pipelineEvent;
                }

                AudioWait wait;
                while ((wait = await WaitForAudioAsync(audio, cancellationToken)).More)
                {
                    while (audio.TryRead(out var chunk))
                    {
                        foreach (var pipelineEvent in alignment.Process(Sanitize(chunk.Samples)))
                        {
                            yield return pipelineEvent;
                        }
                    }
                }

                if (wait.Failure is { } failure)
                {
                    // The sentences before the failed one are whole: their last audio, which the chain still holds,
                    // is theirs, and a surface that sends a sentence on its completion must not lose it.
                    foreach (var pipelineEvent in alignment.Fail())
                    {
                        yield return pipelineEvent;
                    }

                    ExceptionDispatchInfo.Throw(failure);
                }

                foreach (var pipelineEvent in alignment.End(last: !unsubmitted && submitted.Count == 0))
                {
                    yield return pipelineEvent;
                }
            }
        }
        finally
        {
            await work.CancelAsync();
        }
    }

    /// <summary>
    /// Waits for more of a sentence's audio. A synthesis failure is returned rather than thrown, so that the pipeline
    /// can still yield before it rethrows (no yield may sit in a try with a catch); cancellation is thrown.
    /// </summary>
    private static async Task<AudioWait> WaitForAudioAsync(ChannelReader<AudioChunk> audio, CancellationToken cancellationToken)
    {
        try
        {
            return new AudioWait(await audio.WaitToReadAsync(cancellationToken), null);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return new AudioWait(false, ex);
        }
    }

    private readonly record struct AudioWait(bool More, Exception? Failure);

    /// <summary>
    /// Labels the chain's output with the sentence it belongs to. The chain holds audio back (the stretch's frames, the
    /// resampler's filter) and is flushed only at the end, since a flush between sentences would change the audio, so
    /// output that comes while sentence N+1 is fed may still be N's, a short sentence's all of it. Where N ends in the
    /// output is known once all its input is in: the chain's output length for the input so far. Output is split
    /// there, and N+1 starts with its first output sample, so each sentence's audio lies between its own start and
    /// completion. The first sentence starts at once, as before, and its first audio is not held back.
    /// </summary>
    private sealed class SentenceAlignment(TransformChain transforms)
    {
        // Sentences not completed yet, in order; the last one's end is unknown while it is being fed.
        private readonly Queue<Sentence> _open = new();
        private long _input;
        private long _output;

        public List<PipelineEvent> Begin(int index, string text)
        {
            var sentence = new Sentence(index, text);
            _open.Enqueue(sentence);
            return index == 0 ? [Start(sentence)] : [];
        }

        public List<PipelineEvent> Process(float[] samples)
        {
            _input += samples.Length;
            return Split(transforms.Process(samples));
        }

        /// <summary>The current sentence's input is all in; after the last one the chain is flushed.</summary>
        public List<PipelineEvent> End(bool last)
        {
            if (!last)
            {
                _open.Last().End = transforms.OutputLength(_input);
                return Split([]);
            }

            return SplitFlushed(until: null);
        }

        /// <summary>
        /// The current sentence failed: the chain is flushed, and the sentences before it complete with the rest of
        /// their audio. The failed one gets no more, nor a completion.
        /// </summary>
        public List<PipelineEvent> Fail() => _open.Count == 1 ? [] : SplitFlushed(until: _open.Last());

        /// <summary>
        /// The chain's tail, split among the open sentences up to <paramref name="until"/>: no end lies beyond the
        /// audio, so each of them completes, and the rest is the last one's.
        /// </summary>
        private List<PipelineEvent> SplitFlushed(Sentence? until)
        {
            var tail = transforms.Flush();
            foreach (var sentence in _open)
            {
                sentence.End = Math.Min(sentence.End, _output + tail.Length);
            }

            return Split(tail, until);
        }

        private List<PipelineEvent> Split(float[] samples, Sentence? until = null)
        {
            var events = new List<PipelineEvent>();
            var offset = 0;
            while (_open.TryPeek(out var sentence) && sentence != until)
            {
                var count = (int)Math.Clamp(sentence.End - _output, 0, samples.Length - offset);
                if (count > 0)
                {
                    AddStartOnce(events, sentence);
                    events.Add(new AudioProduced(sentence.Index, count == samples.Length ? samples : samples.AsSpan(offset, count).ToArray()));
                    offset += count;
                    _output += count;
                }

                if (_output < sentence.End)
                {
                    break;
                }

                // A sentence without audio still starts and completes, in its place.
                AddStartOnce(events, sentence);
                events.Add(new SentenceCompleted(sentence.Index));
                _open.Dequeue();
            }

            return events;
        }

        private static void AddStartOnce(List<PipelineEvent> events, Sentence sentence)
        {
            if (!sentence.Started)
            {
                events.Add(Start(sentence));
            }
        }

        private static SentenceStarted Start(Sentence sentence)
        {
            sentence.Started = true;
            return new SentenceStarted(sentence.Index, sentence.Text);
        }

        private sealed class Sentence(int index, string text)
        {
            public int Index => index;

            public string Text => text;

            public long End { get; set; } = long.MaxValue;

            public bool Started { get; set; }
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
