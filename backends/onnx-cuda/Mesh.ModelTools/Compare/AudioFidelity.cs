namespace Mesh.ModelTools.Compare;

/// <summary>Energy sums behind an SNR, so utterances pool into one corpus figure.</summary>
public readonly record struct SnrSums(double Signal, double Noise)
{
    /// <summary>Identical signals would be +∞ dB; JSON has no infinity, so the figure stops here.</summary>
    public const double MaxDb = 300;

    public double Db => Noise <= Signal * 1e-30 ? MaxDb : Math.Min(MaxDb, 10 * Math.Log10(Signal / Noise));

    public static SnrSums operator +(SnrSums a, SnrSums b) => new(a.Signal + b.Signal, a.Noise + b.Noise);

    public static SnrSums Add(SnrSums a, SnrSums b) => a + b;
}

/// <summary>Frame sums behind a log-mel distance, so utterances pool into one corpus figure.</summary>
public readonly record struct MelSums(double Distance, int Frames)
{
    /// <summary>Mean per-frame distance in dB.</summary>
    public double Db => Frames == 0 ? 0 : Distance / Frames;

    public static MelSums operator +(MelSums a, MelSums b) => new(a.Distance + b.Distance, a.Frames + b.Frames);

    public static MelSums Add(MelSums a, MelSums b) => a + b;
}

/// <summary>
/// How far one rendering is from a reference: SNR (dB) of <c>b</c> against <c>a</c>, and the log-mel spectral distance
/// (dB): per frame, the RMS over mel bands of the difference of the two log-mel power spectra, averaged over frames.
/// The shorter signal is padded with silence, so a length change costs what it should.
/// </summary>
public static class AudioFidelity
{
    public const int FftSize = 1024;
    public const int Hop = 256;
    public const int MelBands = 80;

    /// <summary>Floor of the mel power (−100 dB), so silence compares finitely.</summary>
    private const double PowerFloor = 1e-10;

    public static SnrSums Snr(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double signal = 0, noise = 0;
        var length = Math.Max(a.Length, b.Length);
        for (var i = 0; i < length; i++)
        {
            double x = i < a.Length ? a[i] : 0;
            double y = i < b.Length ? b[i] : 0;
            signal += x * x;
            noise += (x - y) * (x - y);
        }

        return new SnrSums(signal, noise);
    }

    public static MelSums MelDistance(float[] a, float[] b, int sampleRate)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var length = Math.Max(a.Length, b.Length);
        var frames = length <= FftSize ? 1 : 1 + ((length - FftSize + Hop - 1) / Hop);
        var filters = MelFilters(sampleRate);
        var window = Hann();
        var melA = new double[MelBands];
        var melB = new double[MelBands];
        double total = 0;
        for (var f = 0; f < frames; f++)
        {
            LogMel(a, f * Hop, window, filters, melA);
            LogMel(b, f * Hop, window, filters, melB);
            double sum = 0;
            for (var m = 0; m < MelBands; m++)
            {
                var d = melA[m] - melB[m];
                sum += d * d;
            }

            total += Math.Sqrt(sum / MelBands);
        }

        return new MelSums(total, frames);
    }

    /// <summary>One frame's log-mel power spectrum in dB.</summary>
    private static void LogMel(float[] signal, int start, double[] window, double[][] filters, double[] mel)
    {
        var re = new double[FftSize];
        var im = new double[FftSize];
        for (var i = 0; i < FftSize; i++)
        {
            var j = start + i;
            re[i] = j < signal.Length ? signal[j] * window[i] : 0;
        }

        Fft(re, im);
        var power = new double[(FftSize / 2) + 1];
        for (var k = 0; k < power.Length; k++)
        {
            power[k] = (re[k] * re[k]) + (im[k] * im[k]);
        }

        for (var m = 0; m < MelBands; m++)
        {
            double energy = 0;
            var filter = filters[m];
            for (var k = 0; k < power.Length; k++)
            {
                energy += filter[k] * power[k];
            }

            mel[m] = 10 * Math.Log10(Math.Max(energy, PowerFloor));
        }
    }

    private static double[] Hann()
    {
        var window = new double[FftSize];
        for (var i = 0; i < FftSize; i++)
        {
            window[i] = 0.5 - (0.5 * Math.Cos(2 * Math.PI * i / FftSize));
        }

        return window;
    }

    /// <summary>Triangular filters evenly spaced on the HTK mel scale from 0 Hz to Nyquist.</summary>
    private static double[][] MelFilters(int sampleRate)
    {
        static double Mel(double hz) => 2595 * Math.Log10(1 + (hz / 700));
        static double Hz(double mel) => 700 * (Math.Pow(10, mel / 2595) - 1);
        var bins = (FftSize / 2) + 1;
        var top = Mel(sampleRate / 2.0);
        var edges = Enumerable.Range(0, MelBands + 2).Select(i => Hz(top * i / (MelBands + 1))).ToArray();
        var filters = new double[MelBands][];
        for (var m = 0; m < MelBands; m++)
        {
            filters[m] = new double[bins];
            for (var k = 0; k < bins; k++)
            {
                var hz = (double)k * sampleRate / FftSize;
                var rising = (hz - edges[m]) / (edges[m + 1] - edges[m]);
                var falling = (edges[m + 2] - hz) / (edges[m + 2] - edges[m + 1]);
                filters[m][k] = Math.Max(0, Math.Min(rising, falling));
            }
        }

        return filters;
    }

    /// <summary>In-place iterative radix-2 FFT.</summary>
    private static void Fft(double[] re, double[] im)
    {
        var n = re.Length;
        for (int i = 1, j = 0; i < n; i++)
        {
            var bit = n >> 1;
            for (; (j & bit) != 0; bit >>= 1)
            {
                j ^= bit;
            }

            j ^= bit;
            if (i < j)
            {
                (re[i], re[j]) = (re[j], re[i]);
                (im[i], im[j]) = (im[j], im[i]);
            }
        }

        for (var size = 2; size <= n; size <<= 1)
        {
            var angle = -2 * Math.PI / size;
            for (var start = 0; start < n; start += size)
            {
                for (var k = 0; k < size / 2; k++)
                {
                    var wr = Math.Cos(angle * k);
                    var wi = Math.Sin(angle * k);
                    var a = start + k;
                    var b = a + (size / 2);
                    var tr = (re[b] * wr) - (im[b] * wi);
                    var ti = (re[b] * wi) + (im[b] * wr);
                    re[b] = re[a] - tr;
                    im[b] = im[a] - ti;
                    re[a] += tr;
                    im[a] += ti;
                }
            }
        }
    }
}
