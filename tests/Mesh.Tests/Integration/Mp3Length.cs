namespace Mesh.Tests.Integration;

/// <summary>
/// How many samples ffmpeg decodes from an MP3 stream of LAME's that opens with an Info tag stating only the encoder
/// delay, as Mp3Encoder's does. LAME ends the stream at the first frame boundary at least a granule past the audio, and
/// the decoder skips LAME's delay and its own, so the rest of that last frame plays after the audio.
/// </summary>
public static class Mp3Length
{
    private const int EncoderDelay = 576;
    private const int Granule = 576;

    // ffmpeg skips the tag's encoder delay and this much more, its decoder's own delay.
    private const int DecoderDelay = 529;

    /// <summary>The audio's <paramref name="samples"/> and what plays after them, in frames of <paramref name="frameSamples"/>.</summary>
    public static long Decoded(long samples, int frameSamples)
    {
        var frames = (EncoderDelay + samples + Granule + frameSamples - 1) / frameSamples;
        return (frames * frameSamples) - EncoderDelay - DecoderDelay;
    }

    /// <summary>The most that plays after the audio, when it ends just past a frame boundary: a frame and 46 samples.</summary>
    public static int MaxTrailing(int frameSamples) => frameSamples + Granule - DecoderDelay - 1;
}
