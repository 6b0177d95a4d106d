using Mesh.Backend.Pipeline;
using Mesh.Backend.Pipeline.Audio;
using Mesh.Contracts;
using Mesh.Contracts.Http;

namespace Mesh.Backend.Host.Surfaces;

/// <summary>
/// <c>/v1/audio/speech/stream</c>: one <c>sentence</c> event per sentence with its audio as base64 PCM, then
/// <c>done</c>; a failure after the first event is an <c>error</c> event.
/// </summary>
public sealed class SentenceSseSurface(int sampleRate) : ISpeechSurface
{
    private readonly List<float> _sentenceAudio = [];
    private string _sentenceText = "";
    private int _sentences;

    public void Open()
    {
    }

    public void Start(HttpResponse response)
    {
        SurfaceHeaders.SetEventStream(response);
        SurfaceHeaders.SetPcmFormat(response, sampleRate);
    }

    // Nothing here waits: PCM needs no encoder, so both calls have completed when they return.
    public ValueTask<SurfaceOutput> RenderAsync(PipelineEvent pipelineEvent, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Render(pipelineEvent));

    public ValueTask<SurfaceOutput> CompleteAsync(SpeechUsage usage, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Complete(usage));

    public Task? WhenOutputWaiting() => null;

    public ValueTask<SurfaceOutput> RenderWaitingAsync(CancellationToken cancellationToken) => ValueTask.FromResult(SurfaceOutput.None);

    public bool MarksFailures => true;

    public ReadOnlyMemory<byte>? RenderFailure(ApiError failure) => ServerSentEvents.Error(failure);

    public void Dispose()
    {
    }

    private SurfaceOutput Render(PipelineEvent pipelineEvent)
    {
        switch (pipelineEvent)
        {
            case SentenceStarted started:
                _sentenceText = started.Text;
                _sentenceAudio.Clear();
                return SurfaceOutput.None;
            case AudioProduced audio:
                // Made now, sent with its sentence's event, as an encoder holds samples back: the first-audio deadline
                // ends here, not when the sentence completes, which can wait for the next sentence's audio (the speed
                // and resampling chain releases a sentence's last audio only as later input comes).
                _sentenceAudio.AddRange(audio.Samples);
                return new SurfaceOutput(ReadOnlyMemory<byte>.Empty, audio.Samples.Length);
            case SentenceCompleted completed:
                _sentences++;
                var pcm = PcmEncoder.ToBytes(_sentenceAudio.ToArray());
                var sentence = new StreamEvent
                {
                    Type = StreamEvent.Sentence,
                    Index = completed.SentenceIndex,
                    Text = _sentenceText,
                    Audio = Convert.ToBase64String(pcm),
                    SampleRate = sampleRate,
                };
                return SurfaceOutput.Control(ServerSentEvents.Frame(sentence, ContractsJsonContext.Wire.StreamEvent));
            default:
                return SurfaceOutput.None;
        }
    }

    private SurfaceOutput Complete(SpeechUsage usage)
    {
        var done = new StreamEvent
        {
            Type = StreamEvent.Done,
            Sentences = _sentences,
            AudioSeconds = (double)usage.OutputTokens / sampleRate,
            SampleRate = sampleRate,
        };
        return SurfaceOutput.Control(ServerSentEvents.Frame(done, ContractsJsonContext.Wire.StreamEvent));
    }
}
