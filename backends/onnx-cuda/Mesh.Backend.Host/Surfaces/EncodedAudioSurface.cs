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
    private bool _begun;

    public void Start(HttpResponse response)
    {
        response.ContentType = encoder.ContentType;
        SurfaceHeaders.SetPcmFormatIfRaw(response, encoder, sampleRate);
    }

    public async ValueTask<SurfaceOutput> RenderAsync(PipelineEvent pipelineEvent, CancellationToken cancellationToken) =>
        pipelineEvent is AudioProduced audio
            ? new SurfaceOutput(Concat(BeginOnce(), await encoder.EncodeAsync(audio.Samples, cancellationToken)), audio.Samples.Length)
            : SurfaceOutput.None;

    public Task? WhenOutputWaiting() => _begun ? encoder.WhenOutputWaiting() : null;

    public async ValueTask<SurfaceOutput> RenderWaitingAsync(CancellationToken cancellationToken) =>
        SurfaceOutput.Control(await encoder.EncodeAsync(ReadOnlyMemory<float>.Empty, cancellationToken));

    public async ValueTask<SurfaceOutput> CompleteAsync(SpeechUsage usage, CancellationToken cancellationToken) =>
        SurfaceOutput.Control(Concat(BeginOnce(), await encoder.FinishAsync(cancellationToken)));

    public ReadOnlyMemory<byte>? RenderFailure(ApiError failure) => null;

    public void Dispose() => encoder.Dispose();

    private ReadOnlyMemory<byte> BeginOnce()
    {
        if (_begun)
        {
            return ReadOnlyMemory<byte>.Empty;
        }

        _begun = true;
        return encoder.Begin();
    }

    private static ReadOnlyMemory<byte> Concat(ReadOnlyMemory<byte> first, ReadOnlyMemory<byte> second) =>
        first.IsEmpty ? second : second.IsEmpty ? first : (byte[])[.. first.Span, .. second.Span];
}
