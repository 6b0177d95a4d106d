using System.Buffers;

namespace Mesh.Backend.Pipeline.Audio;

/// <summary>Encoded bytes gathered since the encoder's last return, handed out once.</summary>
/// <remarks>Locked because a subprocess reader fills it on another thread while the caller takes.</remarks>
internal sealed class PendingBytes
{
    private readonly Lock _lock = new();
    private readonly ArrayBufferWriter<byte> _buffer = new();
    private TaskCompletionSource? _appended;

    public void Append(ReadOnlySpan<byte> bytes)
    {
        TaskCompletionSource? waiting;
        lock (_lock)
        {
            _buffer.Write(bytes);
            waiting = _appended;
            _appended = null;
        }

        waiting?.SetResult();
    }

    /// <summary>Completes once there are bytes to take: at once if there are some now.</summary>
    public Task WhenAppended()
    {
        lock (_lock)
        {
            if (_buffer.WrittenCount > 0)
            {
                return Task.CompletedTask;
            }

            // Asynchronous continuations: the reader that appends must not run the response's writes on its own thread.
            _appended ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _appended.Task;
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
