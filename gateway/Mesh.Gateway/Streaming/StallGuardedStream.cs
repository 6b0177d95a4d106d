using Mesh.Contracts.Http;

namespace Mesh.Gateway.Streaming;

/// <summary>Writes a response through its <see cref="WriteStallGuard"/>, which aborts the connection on a stall.</summary>
public sealed class StallGuardedStream(Stream inner, WriteStallGuard stall) : PassThroughStream(inner)
{
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        stall.WriteAsync(Inner, buffer, cancellationToken);
}
