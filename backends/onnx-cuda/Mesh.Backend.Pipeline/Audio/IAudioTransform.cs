namespace Mesh.Backend.Pipeline.Audio;

/// <summary>
/// A stateful, streaming transform of mono float audio (resampling, time stretch): feeding a signal in chunks gives
/// the same output as feeding it whole, so chunk edges leave no seams.
/// </summary>
public interface IAudioTransform
{
    /// <summary>Consumes <paramref name="input"/> and returns the output that is ready (possibly none).</summary>
    float[] Process(ReadOnlySpan<float> input);

    /// <summary>Ends the stream and returns what the transform still held.</summary>
    float[] Flush();

    /// <summary>How many samples the whole stream comes out as, once flushed, for <paramref name="inputSamples"/> in.</summary>
    long OutputLength(long inputSamples);
}
