using System.Threading.Channels;

namespace Mesh.Backend.ModelFamilies.Espeak;

/// <summary>
/// Turns the 16-bit pieces espeak-ng hands over (about 45 ms each, produced hundreds of times faster than real time)
/// into the chunks a sentence is streamed in: the first piece at once, for the time to first audio, then blocks of
/// <paramref name="blockSamples"/>. Every chunk costs a write and a wake-up downstream (pipeline, HTTP, proxy, client);
/// espeak fills a block in about a millisecond while the listener plays what was already sent.
/// </summary>
public sealed class PcmBlocks(int sampleRate, int blockSamples, ChannelWriter<AudioChunk> output)
{
    private readonly float[] _block = new float[blockSamples];
    private int _filled;
    private bool _started;

    public void Append(ReadOnlySpan<short> samples)
    {
        if (!_started)
        {
            _started = true;
            var first = new float[samples.Length];
            ToFloat(samples, first);
            output.TryWrite(new AudioChunk(first, sampleRate));
            return;
        }

        while (!samples.IsEmpty)
        {
            var taken = Math.Min(samples.Length, _block.Length - _filled);
            ToFloat(samples[..taken], _block.AsSpan(_filled));
            _filled += taken;
            samples = samples[taken..];
            if (_filled == _block.Length)
            {
                SendBlock();
            }
        }
    }

    /// <summary>Sends what is left and ends the stream, or fails it (then the rest is dropped).</summary>
    public void Complete(Exception? error)
    {
        if (error is null && _filled > 0)
        {
            SendBlock();
        }

        output.TryComplete(error);
    }

    private void SendBlock()
    {
        output.TryWrite(new AudioChunk(_block[.._filled], sampleRate));
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
