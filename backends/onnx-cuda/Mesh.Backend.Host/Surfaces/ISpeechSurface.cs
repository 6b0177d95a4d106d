using Mesh.Backend.Pipeline;
using Mesh.Backend.Pipeline.Audio;
using Mesh.Contracts;

namespace Mesh.Backend.Host.Surfaces;

/// <summary>Bytes to write to the client and how many audio samples they deliver (for timing and metrics).</summary>
public readonly record struct SurfaceOutput(ReadOnlyMemory<byte> Bytes, int AudioSamples)
{
    public static SurfaceOutput None => default;

    public static SurfaceOutput Control(ReadOnlyMemory<byte> bytes) => new(bytes, 0);
}

/// <summary>
/// One HTTP streaming surface (whole-file audio, OpenAI SSE, per-sentence SSE, raw PCM): how pipeline events become
/// response bytes. The response starts lazily, on the first bytes, so an error before any audio is still an envelope.
/// </summary>
public interface ISpeechSurface : IDisposable
{
    /// <summary>
    /// Called once before the pipeline runs: starts what is slow to start (an encoder's ffmpeg), so that its start
    /// overlaps the first sentence's synthesis instead of delaying that sentence's audio. Writes nothing.
    /// </summary>
    void Open();

    /// <summary>Sets content type and headers; called once, just before the first bytes are written.</summary>
    void Start(HttpResponse response);

    /// <summary>The bytes for one pipeline event; the token stops an encoder that waits when the client leaves.</summary>
    ValueTask<SurfaceOutput> RenderAsync(PipelineEvent pipelineEvent, CancellationToken cancellationToken);

    /// <summary>
    /// Completes when there are bytes that no pipeline event brought (see <see cref="IAudioEncoder.WhenOutputWaiting"/>);
    /// null when there can be none now.
    /// </summary>
    Task? WhenOutputWaiting();

    /// <summary>The bytes <see cref="WhenOutputWaiting"/> announced; their samples counted when their event was rendered.</summary>
    ValueTask<SurfaceOutput> RenderWaitingAsync(CancellationToken cancellationToken);

    /// <summary>The bytes that end a complete stream (an encoder trailer, a done event).</summary>
    ValueTask<SurfaceOutput> CompleteAsync(SpeechUsage usage, CancellationToken cancellationToken);

    /// <summary>Whether <see cref="RenderFailure"/> marks a failure after the response started; else it is cut.</summary>
    bool MarksFailures { get; }

    /// <summary>Bytes that mark a failure after the response started, or null when the only honest end is an abort.</summary>
    ReadOnlyMemory<byte>? RenderFailure(ApiError failure);
}
