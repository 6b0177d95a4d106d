namespace Mesh.Bench;

/// <summary>A deterministic stand-in for voiced speech, for the resampler benchmark and the audio stages' unit tests.</summary>
public static class SpeechLikeSignal
{
    /// <summary>
    /// Harmonics of a gliding 90–210 Hz fundamental rolled off like a vowel, a 4 Hz syllable envelope and a little
    /// noise, peaking near 0.5 so nothing clips.
    /// </summary>
    public static float[] Generate(int sampleRate, double seconds, int seed = 1)
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
}
