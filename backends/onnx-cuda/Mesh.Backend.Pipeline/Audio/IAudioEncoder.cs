namespace Mesh.Backend.Pipeline.Audio;

/// <summary>Turns mono float samples into one response format, chunk by chunk, so output can stream.</summary>
/// <remarks>Encoders over native libraries hold native state: dispose them.</remarks>
public interface IAudioEncoder : IDisposable
{
    string ContentType { get; }

    /// <summary>Bytes that precede the first chunk (a container header), possibly empty.</summary>
    ReadOnlyMemory<byte> Begin();

    ReadOnlyMemory<byte> Encode(ReadOnlySpan<float> samples);

    /// <summary>Bytes that end the stream (flushed frames, a trailer), possibly empty.</summary>
    ReadOnlyMemory<byte> Finish();
}
