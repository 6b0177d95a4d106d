using Mesh.Contracts.Http;

namespace Mesh.Gateway.Streaming;

/// <summary>Writes through a <see cref="WriteStallGuard"/> per write; a stall aborts the connection.</summary>
public sealed class StallGuardedStream(Stream inner, TimeSpan timeout, Action abort) : PassThroughStream(inner)
{
    public bool Stalled { get; private set; }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        using var guard = new WriteStallGuard(timeout, cancellationToken);
        try
        {
            await guard.WriteAsync(buffer, (slice, _, sliceCancellation) => Inner.WriteAsync(slice, sliceCancellation));
        }
        catch (OperationCanceledException) when (guard.Stalled)
        {
            Stalled = true;
            abort();
            throw;
        }
    }
}
