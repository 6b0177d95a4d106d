using System.Globalization;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;

namespace Mesh.Contracts.Http;

/// <summary>
/// Bounds how long a stream's writes may make no progress. Bytes go out in slices of <see cref="SliceBytes"/>, and each
/// slice must be taken within the timeout: Kestrel completes a write once no more than 64 KiB wait unsent, so a reader
/// that keeps reading, however slowly, completes one every 80 KiB or so, while one that stopped completes none. A
/// whole chunk of audio (hundreds of KiB) per write would instead cut a slow reader that is still reading.
/// One guard serves a whole response, one write at a time: its timer runs only while a slice is being written, and a
/// slice not taken in time runs the abort given to it, which ends the pending write with the connection. The write
/// then fails with an <see cref="OperationCanceledException"/>, and so does every later one.
/// </summary>
public sealed class WriteStallGuard : IDisposable
{
    public const int SliceBytes = 16 * 1024;

    private const int Idle = 0;
    private const int Writing = 1;
    private const int Stall = 2;

    private readonly TimeSpan _timeout;
    private readonly Action _abort;
    private readonly Timer _timer;
    private int _state = Idle;

    /// <param name="timeout">How long one slice may take.</param>
    /// <param name="abort">Aborts the connection written to; it must end a write pending on it.</param>
    public WriteStallGuard(TimeSpan timeout, Action abort)
    {
        _timeout = timeout;
        _abort = abort;
        _timer = new Timer(static guard => ((WriteStallGuard)guard!).OnTimeout(), this, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>True once a slice was not taken within the timeout: the connection was aborted, and the caller ends the stream.</summary>
    public bool Stalled => Volatile.Read(ref _state) == Stall;

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="target"/> slice by slice.</summary>
    public ValueTask WriteAsync(Stream target, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken) =>
        WriteSlicesAsync(new StreamSlices(target), bytes, cancellationToken);

    /// <summary>Sends <paramref name="bytes"/> in frames of a slice each, so that a slow reader's progress is seen as it reads.</summary>
    public ValueTask SendAsync(
        WebSocket socket, ReadOnlyMemory<byte> bytes, WebSocketMessageType type, bool endOfMessage, CancellationToken cancellationToken) =>
        WriteSlicesAsync(new WebSocketFrames(socket, type, endOfMessage), bytes, cancellationToken);

    /// <summary>Sends a close frame, which a client that stopped reading must not be able to hold either.</summary>
    public ValueTask CloseOutputAsync(WebSocket socket, WebSocketCloseStatus status, string? reason, CancellationToken cancellationToken) =>
        WriteSlicesAsync(new CloseFrame(socket, status, reason), ReadOnlyMemory<byte>.Empty, cancellationToken);

    public void Dispose() => _timer.Dispose();

    // Generic over a struct writer, so that a write makes no closure and boxes nothing; the pooling builder reuses the
    // state of a write that has to wait for its reader.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WriteSlicesAsync<TWriter>(TWriter writer, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
        where TWriter : struct, ISliceWriter
    {
        do
        {
            var slice = bytes[..Math.Min(bytes.Length, SliceBytes)];
            bytes = bytes[slice.Length..];
            Arm();
            try
            {
                await writer.WriteAsync(slice, bytes.IsEmpty, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException && Stalled)
            {
                // The abort may fail the pending write rather than end it: the caller hears of the stall either way.
                throw StalledError(ex);
            }
            finally
            {
                Disarm();
            }

            ThrowIfStalled();
        }
        while (!bytes.IsEmpty);
    }

    private void Arm()
    {
        if (Interlocked.CompareExchange(ref _state, Writing, Idle) != Idle)
        {
            ThrowIfStalled();
            throw new InvalidOperationException("A stall guard watches one write at a time.");
        }

        _timer.Change(_timeout, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Ends a slice's watch; a stall the timeout already declared stays.</summary>
    private void Disarm()
    {
        _timer.Change(Timeout.Infinite, Timeout.Infinite);
        Interlocked.CompareExchange(ref _state, Idle, Writing);
    }

    private void OnTimeout()
    {
        // A timeout that lost the race to the slice's end aborts nothing: that slice was taken.
        if (Interlocked.CompareExchange(ref _state, Stall, Writing) == Writing)
        {
            _abort();
        }
    }

    private void ThrowIfStalled()
    {
        if (Stalled)
        {
            throw StalledError(null);
        }
    }

    private OperationCanceledException StalledError(Exception? inner) =>
        new(string.Create(CultureInfo.InvariantCulture, $"The reader took none of a write for {_timeout.TotalSeconds:0.###} s; its connection was aborted."), inner);

    private interface ISliceWriter
    {
        ValueTask WriteAsync(ReadOnlyMemory<byte> slice, bool lastSlice, CancellationToken cancellationToken);
    }

    private readonly record struct StreamSlices(Stream Target) : ISliceWriter
    {
        public ValueTask WriteAsync(ReadOnlyMemory<byte> slice, bool lastSlice, CancellationToken cancellationToken) =>
            Target.WriteAsync(slice, cancellationToken);
    }

    private readonly record struct WebSocketFrames(WebSocket Socket, WebSocketMessageType Type, bool EndOfMessage) : ISliceWriter
    {
        public ValueTask WriteAsync(ReadOnlyMemory<byte> slice, bool lastSlice, CancellationToken cancellationToken) =>
            Socket.SendAsync(slice, Type, EndOfMessage && lastSlice, cancellationToken);
    }

    private readonly record struct CloseFrame(WebSocket Socket, WebSocketCloseStatus Status, string? Reason) : ISliceWriter
    {
        public ValueTask WriteAsync(ReadOnlyMemory<byte> slice, bool lastSlice, CancellationToken cancellationToken) =>
            new(Socket.CloseOutputAsync(Status, Reason, cancellationToken));
    }
}
