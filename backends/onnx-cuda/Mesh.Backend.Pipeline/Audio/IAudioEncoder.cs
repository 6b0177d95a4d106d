namespace Mesh.Backend.Pipeline.Audio;

/// <summary>Turns mono float samples into one response format, chunk by chunk, so output can stream.</summary>
/// <remarks>
/// Encoding is asynchronous because an encoder may hand audio to another process and wait for it; the token stops
/// that wait when the client leaves. Encoders over native libraries hold native state: dispose them.
/// </remarks>
public interface IAudioEncoder : IDisposable
{
    string ContentType { get; }

    /// <summary>Bytes that precede the first chunk (a container header), possibly empty.</summary>
    ReadOnlyMemory<byte> Begin();

    ValueTask<ReadOnlyMemory<byte>> EncodeAsync(ReadOnlyMemory<float> samples, CancellationToken cancellationToken);

    /// <summary>
    /// Completes when encoded bytes that no call has returned are waiting: an encoder in another process finishes
    /// frames after the call that fed them has returned. <see cref="EncodeAsync"/> with no samples takes them. Null for
    /// an encoder whose calls return all it has encoded, or one not streaming.
    /// </summary>
    Task? WhenOutputWaiting();

    /// <summary>Bytes that end the stream (flushed frames, a trailer), possibly empty.</summary>
    ValueTask<ReadOnlyMemory<byte>> FinishAsync(CancellationToken cancellationToken);
}
