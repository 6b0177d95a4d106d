namespace Mesh.Backend.Pipeline.Audio;

/// <summary>
/// An encoder that does all its work on the calling thread, in a library call with nothing to wait for: its
/// asynchronous calls have completed when they return, and a cancelled token only stops work not yet begun.
/// </summary>
public abstract class InProcessAudioEncoder : IAudioEncoder
{
    public abstract string ContentType { get; }

    public abstract ReadOnlyMemory<byte> Begin();

    public ValueTask<ReadOnlyMemory<byte>> EncodeAsync(ReadOnlyMemory<float> samples, CancellationToken cancellationToken) =>
        cancellationToken.IsCancellationRequested
            ? ValueTask.FromCanceled<ReadOnlyMemory<byte>>(cancellationToken)
            : ValueTask.FromResult(Encode(samples.Span));

    public Task? WhenOutputWaiting() => null;

    public ValueTask<ReadOnlyMemory<byte>> FinishAsync(CancellationToken cancellationToken) =>
        cancellationToken.IsCancellationRequested
            ? ValueTask.FromCanceled<ReadOnlyMemory<byte>>(cancellationToken)
            : ValueTask.FromResult(Finish());

    public abstract void Dispose();

    protected abstract ReadOnlyMemory<byte> Encode(ReadOnlySpan<float> samples);

    protected abstract ReadOnlyMemory<byte> Finish();
}
