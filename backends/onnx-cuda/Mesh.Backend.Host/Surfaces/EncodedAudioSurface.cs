using Mesh.Backend.Pipeline;
using Mesh.Backend.Pipeline.Audio;
using Mesh.Contracts;

namespace Mesh.Backend.Host.Surfaces;

/// <summary>
/// Audio bytes of one format as they are encoded (<c>stream_format: "audio"</c>, and <c>/stream/pcm</c> with pcm).
/// A failure after the first byte aborts the connection, so the client sees a truncated transfer, never a clean end.
/// </summary>
public sealed class EncodedAudioSurface(IAudioEncoder encoder, int sampleRate) : ISpeechSurface
{
    // The encoder's header from Begin, held until the first audio, so that an error before it is still an envelope.
    private ReadOnlyMemory<byte>? _header;
    private bool _headerSent;

    public void Open() => _header ??= encoder.Begin();

    public void Start(HttpResponse response)
    {
        response.ContentType = encoder.ContentType;
        SurfaceHeaders.SetPcmFormatIfRaw(response, encoder, sampleRate);
    }

    public async ValueTask<SurfaceOutput> RenderAsync(PipelineEvent pipelineEvent, CancellationToken cancellationToken) =>
        pipelineEvent is AudioProduced audio
            ? new SurfaceOutput(Concat(HeaderOnce(), await encoder.EncodeAsync(audio.Samples, cancellationToken)), audio.Samples.Length)
            : SurfaceOutput.None;

    public Task? WhenOutputWaiting() => encoder.WhenOutputWaiting();

    public async ValueTask<SurfaceOutput> RenderWaitingAsync(CancellationToken cancellationToken) =>
        SurfaceOutput.Control(Concat(HeaderOnce(), await encoder.EncodeAsync(ReadOnlyMemory<float>.Empty, cancellationToken)));

    public async ValueTask<SurfaceOutput> CompleteAsync(SpeechUsage usage, CancellationToken cancellationToken) =>
        SurfaceOutput.Control(Concat(HeaderOnce(), await encoder.FinishAsync(cancellationToken)));

    public bool MarksFailures => false;

    public ReadOnlyMemory<byte>? RenderFailure(ApiError failure) => null;

    public void Dispose() => encoder.Dispose();

    private ReadOnlyMemory<byte> HeaderOnce()
    {
        Open();
        if (_headerSent)
        {
            return ReadOnlyMemory<byte>.Empty;
        }

        _headerSent = true;
        return _header!.Value;
    }

    private static ReadOnlyMemory<byte> Concat(ReadOnlyMemory<byte> first, ReadOnlyMemory<byte> second) =>
        first.IsEmpty ? second : second.IsEmpty ? first : (byte[])[.. first.Span, .. second.Span];
}
