namespace Mesh.Contracts.Http;

/// <summary>
/// Bounds how long a stream's writes may make no progress. Bytes go out in slices of <see cref="SliceBytes"/>, and each
/// slice must be taken within the timeout: Kestrel completes a write once no more than 64 KiB wait unsent, so a reader
/// that keeps reading, however slowly, completes one every 80 KiB or so, while one that stopped completes none. A
/// whole chunk of audio (hundreds of KiB) per write would instead cut a slow reader that is still reading.
/// </summary>
public sealed class WriteStallGuard : IDisposable
{
    public const int SliceBytes = 16 * 1024;

    private readonly TimeSpan _timeout;
    private readonly CancellationTokenSource _timer = new();
    private readonly CancellationTokenSource _writes;

    /// <param name="timeout">How long one slice may take.</param>
    /// <param name="connectionAborted">Ends the writes too, as it would without the guard.</param>
    public WriteStallGuard(TimeSpan timeout, CancellationToken connectionAborted)
    {
        _timeout = timeout;
        _writes = CancellationTokenSource.CreateLinkedTokenSource(connectionAborted, _timer.Token);
    }

    /// <summary>True once a slice was not taken within the timeout; its write was cancelled, and the caller ends the stream.</summary>
    public bool Stalled => _timer.IsCancellationRequested;

    /// <summary>Writes <paramref name="bytes"/> slice by slice; <paramref name="writeSlice"/> is told which slice is the last.</summary>
    public async Task WriteAsync(ReadOnlyMemory<byte> bytes, Func<ReadOnlyMemory<byte>, bool, CancellationToken, ValueTask> writeSlice)
    {
        do
        {
            var slice = bytes[..Math.Min(bytes.Length, SliceBytes)];
            bytes = bytes[slice.Length..];
            _timer.CancelAfter(_timeout);
            await writeSlice(slice, bytes.IsEmpty, _writes.Token);
            _timer.CancelAfter(Timeout.InfiniteTimeSpan);
        }
        while (!bytes.IsEmpty);
    }

    public void Dispose()
    {
        _writes.Dispose();
        _timer.Dispose();
    }
}
