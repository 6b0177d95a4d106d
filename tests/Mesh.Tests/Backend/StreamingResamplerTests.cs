using Mesh.Backend.Pipeline.Audio;
using Xunit.Abstractions;

namespace Mesh.Tests.Backend;

// The pipeline resamples only when a request names a sample_rate other than the model's native rate; without one
// the audio keeps the native rate, which is the identity case below.
public sealed class StreamingResamplerTests(ITestOutputHelper output)
{
    public static TheoryData<int, int> RatePairs()
    {
        var pairs = new TheoryData<int, int>();
        foreach (var native in new[] { 22050, 24000 })
        {
            foreach (var target in new[] { 8000, 16000, 22050, 24000, 44100, 48000 })
            {
                pairs.Add(native, target);
            }
        }

        return pairs;
    }

    [Theory]
    [MemberData(nameof(RatePairs))]
    public void Chunked_output_matches_whole_signal_output(int inputRate, int outputRate)
    {
        var signal = TestAudio.SpeechLike(inputRate, 3.0);

        var whole = Resample(inputRate, outputRate, [signal]);
        var chunked = Resample(inputRate, outputRate, TestAudio.RandomChunks(signal, seed: inputRate + outputRate));

        Assert.Equal(whole.Length, chunked.Length);
        var maxDifference = 0.0;
        for (var i = 0; i < whole.Length; i++)
        {
            maxDifference = Math.Max(maxDifference, Math.Abs(whole[i] - chunked[i]));
        }

        var relativeError = maxDifference / TestAudio.MaxAbs(whole);
        output.WriteLine($"{inputRate} -> {outputRate}: {whole.Length} samples, relative error {relativeError:E2}");
        Assert.True(relativeError <= 1e-5, $"relative error {relativeError:E2}");
    }

    [Theory]
    [MemberData(nameof(RatePairs))]
    public void Output_length_after_flush_is_input_length_times_the_rate_ratio(int inputRate, int outputRate)
    {
        // An odd length that no rate pair divides evenly.
        var signal = TestAudio.SpeechLike(inputRate, 0.5)[..10_007];

        var result = Resample(inputRate, outputRate, [signal]);

        var expected = signal.Length * (double)outputRate / inputRate;
        output.WriteLine($"{inputRate} -> {outputRate}: {result.Length} samples, ideal {expected:F2}");
        Assert.InRange(result.Length, expected - 2, expected + 2);
    }

    [Theory]
    [MemberData(nameof(RatePairs))]
    public void OutputLength_is_the_exact_length_after_flush(int inputRate, int outputRate)
    {
        // The pipeline splits the output between sentences where this says each one ends.
        var signal = TestAudio.SpeechLike(inputRate, 0.5);
        // 200 and 400 land on .5 from 24 kHz to 44.1 and 22.05 kHz, where soxr's rounding is its own.
        foreach (var length in new[] { 0, 1, 2, 3, 7, 80, 100, 200, 400, 441, 1001, 4321, 10_007 })
        {
            using var resampler = new StreamingResampler(inputRate, outputRate);

            Assert.Equal(resampler.OutputLength(length), Resample(inputRate, outputRate, [signal.AsMemory(0, length)]).Length);
        }
    }

    [Fact]
    public void Downsampling_24k_to_8k_gives_exactly_a_third_of_the_samples()
    {
        var signal = TestAudio.SpeechLike(24000, 2.0);

        var result = Resample(24000, 8000, TestAudio.RandomChunks(signal, seed: 3));

        Assert.Equal(signal.Length / 3, result.Length);
    }

    [Fact]
    public void Same_rate_is_the_identity()
    {
        var signal = TestAudio.SpeechLike(24000, 0.5);
        using var resampler = new StreamingResampler(24000, 24000);

        var result = TestAudio.RandomChunks(signal, seed: 5).SelectMany(chunk => resampler.Process(chunk.Span)).ToArray();

        Assert.Equal(signal, result);
        Assert.Empty(resampler.Flush());
    }

    [Theory]
    [InlineData(9000)] // just past the new 8 kHz Nyquist
    [InlineData(12000)]
    [InlineData(12345)] // not locked to the sampling grid the way fs/4 is
    [InlineData(20000)]
    public void Tones_above_the_new_nyquist_are_attenuated_by_at_least_90_dB(double frequency)
    {
        var tone = TestAudio.Tone(48000, frequency, 1.0);

        var result = Resample(48000, 16000, [tone]);

        // The tone's abrupt start and end are broadband; measure where the filter has settled.
        var attenuation = 10 * Math.Log10(TestAudio.MeanSquare(tone) / SteadyMeanSquare(result, 16000));
        output.WriteLine($"48000 -> 16000, {frequency} Hz tone: {attenuation:F1} dB below the input");
        Assert.True(attenuation >= 90, $"only {attenuation:F1} dB");
    }

    [Fact]
    public void A_passband_tone_keeps_its_amplitude_within_a_tenth_of_a_dB()
    {
        var tone = TestAudio.Tone(48000, 1000, 1.0);

        var result = Resample(48000, 16000, [tone]);

        var gain = 10 * Math.Log10(SteadyMeanSquare(result, 16000) / TestAudio.MeanSquare(tone));
        output.WriteLine($"48000 -> 16000, 1 kHz tone: gain {gain:F4} dB");
        Assert.InRange(gain, -0.1, 0.1);
    }

    [Fact]
    public void An_empty_stream_flushes_to_nothing()
    {
        using var resampler = new StreamingResampler(22050, 48000);

        Assert.Empty(resampler.Process([]));
        Assert.Empty(resampler.Flush());
    }

    [Fact]
    public void Process_after_flush_and_after_dispose_is_refused()
    {
        var resampler = new StreamingResampler(24000, 16000);
        resampler.Process(new float[100]);
        resampler.Flush();
        Assert.Throws<InvalidOperationException>(() => resampler.Process(new float[100]));

        resampler.Dispose();
        Assert.Throws<ObjectDisposedException>(() => resampler.Process(new float[100]));
    }

    private static float[] Resample(int inputRate, int outputRate, IEnumerable<ReadOnlyMemory<float>> chunks)
    {
        using var resampler = new StreamingResampler(inputRate, outputRate);
        var result = new List<float>();
        foreach (var chunk in chunks)
        {
            result.AddRange(resampler.Process(chunk.Span));
        }

        result.AddRange(resampler.Flush());
        return [.. result];
    }

    private static double SteadyMeanSquare(float[] samples, int sampleRate)
    {
        var margin = sampleRate / 5;
        return TestAudio.MeanSquare(samples.AsSpan(margin, samples.Length - (2 * margin)));
    }
}
