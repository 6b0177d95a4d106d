using System.Buffers;

namespace Mesh.Backend.Pipeline.Audio;

/// <summary>Encoded bytes gathered since the encoder's last return, handed out once.</summary>
/// <remarks>Locked because a subprocess reader fills it on another thread while the caller takes.</remarks>
internal sealed class PendingBytes
{
    private readonly Lock _lock = new();
    private readonly ArrayBufferWriter<byte> _buffer = new();

    public void Append(ReadOnlySpan<byte> bytes)
    {
        lock (_lock)
        {
            _buffer.Write(bytes);
        }
    }

    /// <summary>A copy of everything appended since the last call: the caller may still be writing it out when more arrives.</summary>
    public ReadOnlyMemory<byte> Take()
    {
        lock (_lock)
        {
            if (_buffer.WrittenCount == 0)
            {
                return ReadOnlyMemory<byte>.Empty;
            }

            var bytes = _buffer.WrittenSpan.ToArray();
            _buffer.ResetWrittenCount();
            return bytes;
        }
    }
}
