using System.Diagnostics;
using System.Net.WebSockets;
using Mesh.Contracts.Http;

namespace Mesh.Tests.Contracts;

public sealed class WriteStallGuardTests
{
    // Generous for two shared cores: a cut must come within this of the timeout, never before it.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_write_never_taken_is_cut_after_the_timeout_and_aborts_the_connection()
    {
        var timeout = TimeSpan.FromMilliseconds(300);
        var client = new Client { Stopped = true };
        using var stall = new WriteStallGuard(timeout, client.Abort);
        var started = Stopwatch.GetTimestamp();

        var write = stall.WriteAsync(client, new byte[100], CancellationToken.None).AsTask();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => write.WaitAsync(Bound));
        // The timer runs on a millisecond tick, which can fire it a fraction of one early by the Stopwatch's finer clock.
        var elapsed = Stopwatch.GetElapsedTime(started);
        Assert.True(elapsed >= timeout - TimeSpan.FromMilliseconds(15), $"the write was cut after {elapsed}, before the timeout");
        Assert.True(client.Aborted);
        Assert.True(stall.Stalled);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stall.WriteAsync(client, new byte[100], CancellationToken.None).AsTask());
    }

    [Fact]
    public async Task A_close_frame_never_taken_is_cut_after_the_timeout_and_aborts_the_connection()
    {
        var client = new Client { Stopped = true };
        using var stall = new WriteStallGuard(TimeSpan.FromMilliseconds(300), client.Abort);
        using var socket = WebSocket.CreateFromStream(client, isServer: true, subProtocol: null, keepAliveInterval: Timeout.InfiniteTimeSpan);

        var close = stall.CloseOutputAsync(socket, WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None).AsTask();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => close.WaitAsync(Bound));
        Assert.True(client.Aborted);
        Assert.True(stall.Stalled);
    }

    [Fact]
    public async Task A_slow_reader_that_keeps_taking_slices_is_not_cut()
    {
        // Each slice takes 20% of the timeout, the whole write (eight slices) 160% of it; the 80% left per slice is room
        // for a busy machine's late timers.
        var timeout = TimeSpan.FromSeconds(2);
        var client = new Client { TakeEach = timeout * 0.2 };
        using var stall = new WriteStallGuard(timeout, client.Abort);
        var chunk = Enumerable.Range(0, 8 * WriteStallGuard.SliceBytes).Select(i => (byte)i).ToArray();

        await stall.WriteAsync(client, chunk, CancellationToken.None).AsTask().WaitAsync(Bound);

        Assert.False(stall.Stalled);
        Assert.False(client.Aborted);
        Assert.Equal(chunk, client.Taken.ToArray());
        Assert.Equal(WriteStallGuard.SliceBytes, client.LargestWrite);
    }

    [Fact]
    public async Task The_guard_serves_many_writes_after_a_slow_one_and_still_cuts_a_stall()
    {
        var timeout = TimeSpan.FromSeconds(1);
        var client = new Client { TakeEach = timeout * 0.4 };
        using var stall = new WriteStallGuard(timeout, client.Abort);
        await stall.WriteAsync(client, new byte[100], CancellationToken.None);
        client.TakeEach = TimeSpan.Zero;
        for (var i = 0; i < 1000; i++)
        {
            await stall.WriteAsync(client, new byte[100], CancellationToken.None);
        }

        // Idle between writes, for longer than a slice may take: nothing is watched then.
        await Task.Delay(timeout * 2);
        Assert.False(stall.Stalled);
        Assert.False(client.Aborted);
        Assert.Equal(1001 * 100, client.Taken.Length);

        client.Stopped = true;
        var write = stall.WriteAsync(client, new byte[100], CancellationToken.None).AsTask();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => write.WaitAsync(Bound));
        Assert.True(client.Aborted);
    }

    /// <summary>
    /// The client end of guarded writes: it takes each write after <see cref="TakeEach"/>, or, once stopped, none until
    /// its connection is aborted, which ends the pending write without an error, as Kestrel's abort does.
    /// </summary>
    private sealed class Client : Stream
    {
        private readonly TaskCompletionSource _aborted = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TimeSpan TakeEach { get; set; }

        public bool Stopped { get; set; }

        public MemoryStream Taken { get; } = new();

        public int LargestWrite { get; private set; }

        public bool Aborted => _aborted.Task.IsCompleted;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public void Abort() => _aborted.TrySetResult();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Stopped)
            {
                await _aborted.Task.WaitAsync(cancellationToken);
                return;
            }

            await Task.Delay(TakeEach, cancellationToken);
            Taken.Write(buffer.Span);
            LargestWrite = Math.Max(LargestWrite, buffer.Length);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        /// <summary>The client sends nothing; a read ends with the connection.</summary>
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await _aborted.Task.WaitAsync(cancellationToken);
            return 0;
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
