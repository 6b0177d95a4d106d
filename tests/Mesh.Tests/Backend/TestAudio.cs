using Mesh.Bench;

namespace Mesh.Tests.Backend;

/// <summary>Deterministic test signals for the audio stages.</summary>
internal static class TestAudio
{
    /// <summary>Voiced-speech stand-in (<see cref="SpeechLikeSignal"/>, which the resampler benchmark uses too).</summary>
    public static float[] SpeechLike(int sampleRate, double seconds, int seed = 1) => SpeechLikeSignal.Generate(sampleRate, seconds, seed);

    public static float[] Tone(int sampleRate, double frequency, double seconds, double amplitude = 0.5)
    {
        var samples = new float[(int)(sampleRate * seconds)];
        for (var n = 0; n < samples.Length; n++)
        {
            samples[n] = (float)(amplitude * Math.Sin(2 * Math.PI * frequency * n / sampleRate));
        }

        return samples;
    }

    /// <summary>Cuts <paramref name="signal"/> into random chunks of 1 to <paramref name="maxChunk"/> samples, single samples often.</summary>
    public static IEnumerable<ReadOnlyMemory<float>> RandomChunks(float[] signal, int seed, int maxChunk = 4000)
    {
        var random = new Random(seed);
        var offset = 0;
        while (offset < signal.Length)
        {
            var size = random.Next(8) switch
            {
                0 => 1,
                1 => random.Next(2, 16) | 1,
                _ => random.Next(1, maxChunk),
            };
            size = Math.Min(size, signal.Length - offset);
            yield return signal.AsMemory(offset, size);
            offset += size;
        }
    }

    public static double MeanSquare(ReadOnlySpan<float> samples)
    {
        var sum = 0.0;
        foreach (var s in samples)
        {
            sum += (double)s * s;
        }

        return sum / samples.Length;
    }

    public static double MaxAbs(ReadOnlySpan<float> samples)
    {
        var max = 0.0;
        foreach (var s in samples)
        {
            max = Math.Max(max, Math.Abs(s));
        }

        return max;
    }
}
