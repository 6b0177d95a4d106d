using Mesh.Contracts.Http;
using Mesh.Gateway.Streaming;

namespace Mesh.Tests.Gateway;

public sealed class StallGuardedStreamTests
{
    [Fact]
    public void Writes_allocate_nothing_per_write()
    {
        const int writes = 10_000;
        using var stall = new WriteStallGuard(TimeSpan.FromSeconds(30), () => { });
        using var guarded = new StallGuardedStream(Stream.Null, stall);
        // A chunk of three slices, so that the guard's loop runs as it does for a whole chunk of audio.
        var chunk = new byte[(2 * WriteStallGuard.SliceBytes) + 100];
        Write(guarded, chunk, 100);

        var before = GC.GetAllocatedBytesForCurrentThread();
        Write(guarded, chunk, writes);
        var perWrite = (double)(GC.GetAllocatedBytesForCurrentThread() - before) / writes;

        Assert.True(perWrite < 1, $"{perWrite:0.#} bytes allocated per write");
    }

    /// <summary>Writes on this thread, which the allocation count is of: a write to the null stream completes at once.</summary>
    private static void Write(Stream stream, byte[] chunk, int times)
    {
        for (var i = 0; i < times; i++)
        {
            var write = stream.WriteAsync(chunk);
            Assert.True(write.IsCompletedSuccessfully, "A write to the null stream waited or failed.");
        }
    }
}
