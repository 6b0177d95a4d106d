using System.Threading.Channels;

namespace Mesh.Backend.ModelFamilies.Espeak;

/// <summary>
/// Turns the 16-bit pieces espeak-ng hands over (about 45 ms each, produced hundreds of times faster than real time)
/// into the chunks a sentence is streamed in: the first piece at once, for the time to first audio, then blocks of
/// the given number of samples. Every chunk costs a write and a wake-up downstream (pipeline, HTTP, proxy, client); espeak
/// fills a block in about a millisecond while the listener plays what was already sent. One writer thread only (espeak's).
/// </summary>
public sealed class PcmBlocks
{
    private readonly int _sampleRate;
    private readonly int _blockSamples;
    private readonly ChannelWriter<AudioChunk> _output;
    private readonly bool _yieldAfterFirstPiece;
    private float[]? _block;
    private int _filled;
    private bool _started;

    /// <param name="yieldAfterFirstPiece">
    /// Give up the core once the first piece is written. espeak keeps its thread busy until the sentence is done
    /// (milliseconds), and the reader that write woke is often queued on the same core, where the kernel lets the running
    /// thread finish its time slice first: without the yield a request's first audio waited up to 2 ms for the rest of the
    /// sentence. Only where a client waits: under full load every yield puts espeak behind the other threads on its core.
    /// </param>
    public PcmBlocks(int sampleRate, int blockSamples, ChannelWriter<AudioChunk> output, bool yieldAfterFirstPiece = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSamples);
        _sampleRate = sampleRate;
        _blockSamples = blockSamples;
        _output = output;
        _yieldAfterFirstPiece = yieldAfterFirstPiece;
    }

    public void Append(ReadOnlySpan<short> samples)
    {
        if (samples.IsEmpty)
        {
            return;
        }

        if (!_started)
        {
            _started = true;
            var first = new float[samples.Length];
            ToFloat(samples, first);
            _output.TryWrite(new AudioChunk(first, _sampleRate));
            if (_yieldAfterFirstPiece)
            {
                Thread.Yield();
            }

            return;
        }

        while (!samples.IsEmpty)
        {
            _block ??= new float[_blockSamples];
            var taken = Math.Min(samples.Length, _blockSamples - _filled);
            ToFloat(samples[..taken], _block.AsSpan(_filled));
            _filled += taken;
            samples = samples[taken..];
            if (_filled == _blockSamples)
            {
                Send(_block);
            }
        }
    }

    /// <summary>Sends what is left and ends the stream, or fails it (then the rest is dropped).</summary>
    public void Complete(Exception? error)
    {
        if (error is null && _block is not null)
        {
            Send(_block[.._filled]);
        }

        _output.TryComplete(error);
    }

    /// <summary>Hands a block over whole; the next samples start a new one.</summary>
    private void Send(float[] samples)
    {
        _output.TryWrite(new AudioChunk(samples, _sampleRate));
        _block = null;
        _filled = 0;
    }

    private static void ToFloat(ReadOnlySpan<short> samples, Span<float> destination)
    {
        for (var i = 0; i < samples.Length; i++)
        {
            destination[i] = samples[i] / 32768f;
        }
    }
}
