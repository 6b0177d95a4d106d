using Mesh.Backend.Pipeline;
using Mesh.Backend.Pipeline.Audio;
using Mesh.Contracts;
using Mesh.Contracts.Http;

namespace Mesh.Backend.Host.Surfaces;

/// <summary>
/// OpenAI's <c>stream_format: "sse"</c>: <c>speech.audio.delta</c> events with base64 audio in the response format,
/// then <c>speech.audio.done</c> with usage. A failure after the first event is an <c>error</c> event.
/// </summary>
public sealed class OpenAiSseSurface(IAudioEncoder encoder, int sampleRate) : ISpeechSurface
{
    private readonly EncodedAudioSurface _audio = new(encoder, sampleRate);

    public void Open() => _audio.Open();

    public void Start(HttpResponse response)
    {
        SurfaceHeaders.SetEventStream(response);
        SurfaceHeaders.SetPcmFormatIfRaw(response, encoder, sampleRate);
    }

    public async ValueTask<SurfaceOutput> RenderAsync(PipelineEvent pipelineEvent, CancellationToken cancellationToken) =>
        AsDelta(await _audio.RenderAsync(pipelineEvent, cancellationToken));

    public Task? WhenOutputWaiting() => _audio.WhenOutputWaiting();

    public async ValueTask<SurfaceOutput> RenderWaitingAsync(CancellationToken cancellationToken) =>
        AsDelta(await _audio.RenderWaitingAsync(cancellationToken));

    public async ValueTask<SurfaceOutput> CompleteAsync(SpeechUsage usage, CancellationToken cancellationToken)
    {
        var trailer = (await _audio.CompleteAsync(usage, cancellationToken)).Bytes;
        var done = ServerSentEvents.Frame(new SpeechAudioDone(usage), ContractsJsonContext.Wire.SpeechAudioDone);
        return SurfaceOutput.Control(trailer.IsEmpty ? done : (byte[])[.. Delta(trailer), .. done]);
    }

    public bool MarksFailures => true;

    public ReadOnlyMemory<byte>? RenderFailure(ApiError failure) => ServerSentEvents.Error(failure);

    public void Dispose() => _audio.Dispose();

    private static SurfaceOutput AsDelta(SurfaceOutput audio) =>
        audio.Bytes.IsEmpty ? audio : new SurfaceOutput(Delta(audio.Bytes), audio.AudioSamples);

    private static byte[] Delta(ReadOnlyMemory<byte> bytes) =>
        ServerSentEvents.Frame(new SpeechAudioDelta(Convert.ToBase64String(bytes.Span)), ContractsJsonContext.Wire.SpeechAudioDelta);
}
