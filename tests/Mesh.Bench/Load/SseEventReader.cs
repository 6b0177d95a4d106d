using System.Diagnostics;

namespace Mesh.Bench.Load;

/// <summary>
/// Splits a <c>text/event-stream</c> body into events as bytes arrive, without decoding them to strings: an event's
/// <c>data:</c> payload and the time the read that completed it returned (its arrival).
/// </summary>
public sealed class SseEventReader(Stream stream)
{
    private static readonly byte[] DataPrefix = "data:"u8.ToArray();
    private byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;
    private long _lastRead;

    /// <summary>The next event, or null at the end of the stream. Its data is valid until the next call.</summary>
    public async ValueTask<SseEvent?> ReadAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var pending = _buffer.AsMemory(_start, _end - _start);
            var boundary = pending.Span.IndexOf("\n\n"u8);
            if (boundary >= 0)
            {
                _start += boundary + 2;
                return new SseEvent(Data(pending[..boundary]), _lastRead);
            }

            MakeRoom();
            var read = await stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
            if (read == 0)
            {
                return null;
            }

            _lastRead = Stopwatch.GetTimestamp();
            _end += read;
        }
    }

    /// <summary>The payload of the event's <c>data:</c> line (events here carry one), without the prefix and carriage returns.</summary>
    private static ReadOnlyMemory<byte> Data(ReadOnlyMemory<byte> block)
    {
        var span = block.Span;
        var at = span.IndexOf(DataPrefix);
        if (at < 0)
        {
            return ReadOnlyMemory<byte>.Empty;
        }

        var data = block[(at + DataPrefix.Length)..];
        var lineEnd = data.Span.IndexOf((byte)'\n');
        if (lineEnd >= 0)
        {
            data = data[..lineEnd];
        }

        return data.TrimStart((byte)' ').TrimEnd((byte)'\r');
    }

    private void MakeRoom()
    {
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            Array.Resize(ref _buffer, _buffer.Length * 2);
        }
    }
}

/// <param name="Timestamp">When the read that completed the event returned (<see cref="Stopwatch.GetTimestamp"/>).</param>
public readonly record struct SseEvent(ReadOnlyMemory<byte> Data, long Timestamp);
