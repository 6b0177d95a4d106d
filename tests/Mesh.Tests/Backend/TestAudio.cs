namespace Mesh.Tests.Backend;

/// <summary>Deterministic test signals for the audio stages.</summary>
internal static class TestAudio
{
    /// <summary>
    /// Voiced-speech stand-in: harmonics of a gliding 90–210 Hz fundamental rolled off like a vowel, a 4 Hz
    /// syllable envelope and a little noise, peaking near 0.5 so nothing clips.
    /// </summary>
    public static float[] SpeechLike(int sampleRate, double seconds, int seed = 1)
    {
        var random = new Random(seed);
        var samples = new float[(int)(sampleRate * seconds)];
        var phase = 0.0;
        for (var n = 0; n < samples.Length; n++)
        {
            var t = (double)n / sampleRate;
            var fundamental = 150 + (60 * Math.Sin(2 * Math.PI * 0.7 * t));
            phase += 2 * Math.PI * fundamental / sampleRate;
            var voiced = 0.0;
            for (var h = 1; h * fundamental < sampleRate / 2.0 && h <= 40; h++)
            {
                voiced += Math.Sin(h * phase) / h;
            }

            var envelope = 0.55 + (0.45 * Math.Sin(2 * Math.PI * 4 * t));
            var noise = (random.NextDouble() * 2) - 1;
            samples[n] = (float)((0.2 * envelope * voiced) + (0.02 * noise));
        }

        return samples;
    }

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
