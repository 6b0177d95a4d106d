using Mesh.Backend.Pipeline.Audio;
using Xunit.Abstractions;

namespace Mesh.Tests.Backend;

public sealed class TimeStretcherTests(ITestOutputHelper output)
{
    private const int Rate = 24000;

    [Theory]
    [InlineData(0.25)]
    [InlineData(0.5)]
    [InlineData(0.8)]
    [InlineData(1.25)]
    [InlineData(2.0)]
    [InlineData(4.0)]
    public void Output_duration_is_input_duration_over_speed(double speed)
    {
        var signal = TestAudio.SpeechLike(Rate, 2.0);

        var result = Stretch(speed, [signal]);

        var expected = signal.Length / speed;
        output.WriteLine($"speed {speed}: {result.Length} samples, ideal {expected:F1}");
        Assert.InRange(result.Length, expected * 0.98, expected * 1.02);
        Assert.InRange(result.Length, expected - 1, expected + 1);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(2.0)]
    public void A_tone_keeps_its_pitch(double speed)
    {
        var tone = TestAudio.Tone(Rate, 220, 2.0);

        var result = Stretch(speed, [tone]);

        var frequency = ZeroCrossingFrequency(result.AsSpan(Rate / 10, result.Length - (Rate / 5)));
        output.WriteLine($"speed {speed}: 220 Hz in, {frequency:F2} Hz out");
        Assert.InRange(frequency, 220 * 0.98, 220 * 1.02);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.8)]
    [InlineData(1.7)]
    [InlineData(3.0)]
    public void Chunked_processing_gives_the_same_samples_as_whole(double speed)
    {
        var signal = TestAudio.SpeechLike(Rate, 2.0, seed: 7);

        var whole = Stretch(speed, [signal]);
        var chunked = Stretch(speed, TestAudio.RandomChunks(signal, seed: 11));

        Assert.Equal(whole, chunked);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.75)]
    [InlineData(1.5)]
    [InlineData(2.0)]
    public void A_tone_has_no_clicks(double speed)
    {
        const double amplitude = 0.5;
        const double frequency = 220;
        var tone = TestAudio.Tone(Rate, frequency, 2.0, amplitude);

        var result = Stretch(speed, [tone]);

        // A sinusoid never steps by more than 2A·sin(πf/fs); a discontinuity at a frame joint would step by up to
        // 2A. Overlap-add of in-phase copies keeps the bound; the 10% covers their sub-sample misalignment.
        var toneStep = 2 * amplitude * Math.Sin(Math.PI * frequency / Rate);
        var maxStep = 0.0;
        for (var i = 1; i < result.Length; i++)
        {
            maxStep = Math.Max(maxStep, Math.Abs(result[i] - result[i - 1]));
        }

        // Out-of-phase joints would instead dip the envelope (beating), so check every 10 ms holds a full peak.
        var block = Rate / 100;
        var weakestPeak = double.MaxValue;
        for (var start = 0; start + block <= result.Length; start += block)
        {
            weakestPeak = Math.Min(weakestPeak, TestAudio.MaxAbs(result.AsSpan(start, block)));
        }

        output.WriteLine(
            $"speed {speed}: max step {maxStep:F5}, tone's own {toneStep:F5} ({maxStep / toneStep:F3}×), weakest 10 ms peak {weakestPeak:F4}");
        Assert.True(maxStep <= toneStep * 1.1, $"max step {maxStep:F5} against {toneStep:F5}");
        Assert.InRange(weakestPeak, amplitude * 0.95, amplitude * 1.01);
    }

    [Fact]
    public void Speed_one_is_the_identity()
    {
        var signal = TestAudio.SpeechLike(Rate, 0.5);
        var stretcher = new TimeStretcher(Rate, 1.0);

        var result = TestAudio.RandomChunks(signal, seed: 2).SelectMany(chunk => stretcher.Process(chunk.Span)).ToArray();

        Assert.Equal(signal, result);
        Assert.Empty(stretcher.Flush());
    }

    [Theory]
    [InlineData(0.2)]
    [InlineData(4.5)]
    [InlineData(double.NaN)]
    public void Speeds_outside_the_api_range_are_refused(double speed) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new TimeStretcher(Rate, speed));

    [Theory]
    [InlineData(0.25)]
    [InlineData(0.8)]
    [InlineData(1.0)]
    [InlineData(1.25)]
    [InlineData(2.5)]
    [InlineData(4.0)]
    public void OutputLength_is_the_exact_length_after_flush(double speed)
    {
        var signal = TestAudio.SpeechLike(Rate, 0.5);
        foreach (var length in new[] { 0, 1, 7, 100, 1001, 4321, 10_007 })
        {
            Assert.Equal(new TimeStretcher(Rate, speed).OutputLength(length), Stretch(speed, [signal.AsMemory(0, length)]).Length);
        }
    }

    private static float[] Stretch(double speed, IEnumerable<ReadOnlyMemory<float>> chunks)
    {
        var stretcher = new TimeStretcher(Rate, speed);
        var result = new List<float>();
        foreach (var chunk in chunks)
        {
            result.AddRange(stretcher.Process(chunk.Span));
        }

        result.AddRange(stretcher.Flush());
        return [.. result];
    }

    // Rising zero crossings, located to a fraction of a sample, counted over the span between the first and last.
    private static double ZeroCrossingFrequency(ReadOnlySpan<float> samples)
    {
        double first = -1, last = -1;
        var count = 0;
        for (var i = 1; i < samples.Length; i++)
        {
            if (samples[i - 1] < 0 && samples[i] >= 0)
            {
                var at = i - 1 + (samples[i - 1] / (double)(samples[i - 1] - samples[i]));
                first = first < 0 ? at : first;
                last = at;
                count++;
            }
        }

        return (count - 1) * Rate / (last - first);
    }
}
