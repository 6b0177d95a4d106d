using System.Buffers.Binary;
using System.Diagnostics;
using Mesh.Backend.Pipeline.Audio;
using Mesh.Contracts;
using Mesh.Tests.Integration;
using Xunit.Abstractions;

namespace Mesh.Tests.Backend;

/// <summary>
/// The compressed formats, checked against Debian's ffmpeg as an independent decoder. The round trips live in one
/// nested class per format so that xunit runs the formats in parallel.
/// </summary>
public sealed class AudioEncoderTests(ITestOutputHelper output)
{
    private const double SignalSeconds = 2.5;

    // Well inside AacEncoder's 30 s exit timeout, with room for a busy test machine.
    private static readonly TimeSpan PromptlyEnough = TimeSpan.FromSeconds(5);

    // From one sample to a tenth of a second and more, so chunks straddle every codec's frame boundaries.
    private static readonly int[] ChunkSizes = [1, 7, 160, 333, 1024, 4410, 17, 2999, 960, 5];

    public static TheoryData<int> AllRates() => [.. AudioFormats.SampleRates];

    public static TheoryData<int> OpusRates() => [.. AudioFormats.SampleRates.Where(OggOpusEncoder.SampleRates.Contains)];

    public static TheoryData<string> CompressedFormats() => [AudioFormats.Mp3, AudioFormats.Opus, AudioFormats.Aac, AudioFormats.Flac];

    /// <summary>The compressed formats that flow while encoding; FLAC does only when asked, else it is written whole so its header is exact.</summary>
    public static TheoryData<string> StreamedFormats() => [AudioFormats.Mp3, AudioFormats.Opus, AudioFormats.Aac];

    public sealed class Mp3(ITestOutputHelper output)
    {
        [Theory]
        [MemberData(nameof(AllRates), MemberType = typeof(AudioEncoderTests))]
        public Task Round_trips_through_ffmpeg(int sampleRate) => RoundTripAsync(AudioFormats.Mp3, sampleRate, output);

        /// <remarks>
        /// What plays after the audio depends on where the audio ends in its last frame, from 47 samples to a frame and
        /// 46, never on how the audio came in: a whole file and a stream of the same audio are the same bytes.
        /// </remarks>
        [Theory]
        [InlineData(8000)]
        [InlineData(44100)]
        public async Task Decodes_to_the_audio_and_the_rest_of_its_last_frame_however_it_is_chunked(int sampleRate)
        {
            var signal = TestSignal(sampleRate);
            int frameSamples;
            using (var probe = new Mp3Encoder(sampleRate))
            {
                frameSamples = probe.FrameSamples;
            }

            var lastWholeFrame = ((signal.Length / frameSamples) - 2) * frameSamples;
            foreach (var end in new[] { 0, 1, 46, 47, 48, frameSamples - 1 })
            {
                var input = signal[..(lastWholeFrame + end)];
                var whole = await EncodeAsync(AudioFormats.Mp3, sampleRate, input, [input.Length]);
                var chunked = await EncodeAsync(AudioFormats.Mp3, sampleRate, input, ChunkSizes);
                var decoded = await DecodedAudio.FfmpegDecodeAsync(chunked, AudioFormats.Mp3);
                output.WriteLine($"{input.Length} samples, {end} into a frame: {decoded.Samples.Length - input.Length} after them");

                Assert.Equal(whole, chunked);
                Assert.Equal(Mp3Length.Decoded(input.Length, frameSamples), decoded.Samples.Length);
            }
        }
    }

    public sealed class Opus(ITestOutputHelper output)
    {
        [Theory]
        [MemberData(nameof(OpusRates), MemberType = typeof(AudioEncoderTests))]
        public Task Round_trips_through_ffmpeg(int sampleRate) => RoundTripAsync(AudioFormats.Opus, sampleRate, output);
    }

    public sealed class Aac(ITestOutputHelper output)
    {
        [Theory]
        [MemberData(nameof(AllRates), MemberType = typeof(AudioEncoderTests))]
        public Task Round_trips_through_ffmpeg(int sampleRate) => RoundTripAsync(AudioFormats.Aac, sampleRate, output);
    }

    public sealed class Flac(ITestOutputHelper output)
    {
        [Theory]
        [MemberData(nameof(AllRates), MemberType = typeof(AudioEncoderTests))]
        public Task Round_trips_through_ffmpeg(int sampleRate) => RoundTripAsync(AudioFormats.Flac, sampleRate, output);

        [Theory]
        [MemberData(nameof(AllRates), MemberType = typeof(AudioEncoderTests))]
        public Task Round_trips_through_ffmpeg_when_streamed(int sampleRate) => RoundTripAsync(AudioFormats.Flac, sampleRate, output, streamed: true);
    }

    [Theory]
    [MemberData(nameof(StreamedFormats))]
    public async Task Audio_streams_out_before_the_stream_is_finished(string format)
    {
        const int rate = 24000;
        var input = TestSignal(rate);
        using var encoder = AudioEncoders.Create(format, rate);
        encoder.Begin();

        // One second in 20 ms chunks, as a model hands audio over.
        long streamed = 0;
        for (var offset = 0; offset < rate; offset += rate / 50)
        {
            streamed += (await encoder.EncodeAsync(input.AsMemory(offset, rate / 50), CancellationToken.None)).Length;
        }

        // ffmpeg encodes on its own thread of control: its first frames may come after the calls that fed them, and
        // the encoder says when they are waiting.
        if (streamed == 0 && encoder.WhenOutputWaiting() is { } waiting)
        {
            await waiting.WaitAsync(TimeSpan.FromSeconds(10));
            streamed += (await encoder.EncodeAsync(ReadOnlyMemory<float>.Empty, CancellationToken.None)).Length;
        }

        var rest = (await encoder.FinishAsync(CancellationToken.None)).Length;
        output.WriteLine($"{format}: {streamed} bytes before Finish, {rest} from it");
        Assert.True(streamed > 0, $"{format} returned no audio before Finish");
        if (format != AudioFormats.Aac)
        {
            // In-process encoders hold back at most a frame or two.
            Assert.True(streamed > rest, $"{format} held back {rest} of {streamed + rest} bytes until Finish");
        }
    }

    [Fact]
    public async Task Flac_states_its_exact_length_so_tools_know_the_duration()
    {
        const int rate = 22050;
        var input = TestSignal(rate);
        using var encoder = AudioEncoders.Create(AudioFormats.Flac, rate);
        var header = encoder.Begin().Length;
        var early = (await encoder.EncodeAsync(input, CancellationToken.None)).Length;
        var file = (await encoder.FinishAsync(CancellationToken.None)).ToArray();

        Assert.Equal(0, header + early);
        // STREAMINFO follows "fLaC" and its block header; total samples are the low 36 bits of bytes 18..25.
        var totalSamples = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(file.AsSpan(18)) & 0xF_FFFF_FFFFUL;
        Assert.Equal((ulong)input.Length, totalSamples);
        Assert.InRange(await Integration.DecodedAudio.FfprobeDurationAsync(file, "flac"), input.Length / (double)rate - 0.001, input.Length / (double)rate + 0.001);
    }

    [Theory]
    [MemberData(nameof(CompressedFormats))]
    public async Task Dispose_without_finish_releases_the_encoder(string format)
    {
        const int rate = 16000;
        var encoder = AudioEncoders.Create(format, rate);
        encoder.Begin();
        await encoder.EncodeAsync(TestSignal(rate).AsMemory(0, rate / 2), CancellationToken.None);

        encoder.Dispose();
        encoder.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await encoder.EncodeAsync(new float[rate / 50], CancellationToken.None));
        AudioEncoders.Create(format, rate).Dispose();
    }

    [Fact]
    public async Task Disposing_an_unfinished_aac_stream_ends_its_ffmpeg()
    {
        var encoder = new AacEncoder(16000);
        encoder.Begin();
        await encoder.EncodeAsync(TestSignal(16000).AsMemory(0, 8000), CancellationToken.None);
        var pid = encoder.ProcessId!.Value;
        Assert.True(Directory.Exists($"/proc/{pid}"));

        encoder.Dispose();

        await AssertProcessEndsAsync(pid);
    }

    [Fact]
    public async Task An_aac_chunk_larger_than_the_pipe_is_awaited_and_a_leaving_client_cancels_it()
    {
        const int rate = 22050;
        using var encoder = new AacEncoder(rate);
        encoder.Begin();
        var pid = encoder.ProcessId!.Value;
        await HostProcess.StopProcessAsync(pid);

        // Three seconds of floats (264 KB) overfill the 64 KiB pipe of an ffmpeg that takes nothing.
        using var clientGone = new CancellationTokenSource();
        var chunk = new float[3 * rate];
        var encoding = encoder.EncodeAsync(chunk, clientGone.Token).AsTask();
        await Task.Delay(200);
        Assert.False(encoding.IsCompleted, "the chunk went through a pipe that nobody reads");

        await clientGone.CancelAsync();
        // A write that ignored the token would still be waiting, and time out here.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => encoding.WaitAsync(PromptlyEnough));

        encoder.Dispose();
        await AssertProcessEndsAsync(pid);
    }

    [Fact]
    public async Task A_client_that_leaves_while_ffmpeg_finishes_is_released_at_once_and_ffmpeg_ends()
    {
        const int rate = 16000;
        using var encoder = new AacEncoder(rate);
        encoder.Begin();
        await encoder.EncodeAsync(TestSignal(rate).AsMemory(0, rate / 2), CancellationToken.None);
        var pid = encoder.ProcessId!.Value;
        // A stopped ffmpeg never exits: without the client's token Finish would wait out its 30 s exit timeout.
        await HostProcess.StopProcessAsync(pid);

        using var clientGone = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var finishing = encoder.FinishAsync(clientGone.Token).AsTask();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => finishing.WaitAsync(PromptlyEnough));

        encoder.Dispose();
        await AssertProcessEndsAsync(pid);
    }

    [Theory]
    [InlineData(AudioFormats.Opus, 22050, 48000)]
    [InlineData(AudioFormats.Opus, 44100, 48000)]
    [InlineData(AudioFormats.Opus, 24000, 24000)]
    [InlineData(AudioFormats.Opus, 8000, 8000)]
    [InlineData(AudioFormats.Mp3, 22050, 22050)]
    [InlineData(AudioFormats.Aac, 44100, 44100)]
    [InlineData(AudioFormats.Flac, 22050, 22050)]
    public void Only_opus_asks_for_another_rate(string format, int sampleRate, int encodingRate)
    {
        Assert.Equal(encodingRate, AudioEncoders.EncodingSampleRate(format, sampleRate));
    }

    [Fact]
    public void Opus_refuses_a_rate_it_cannot_code()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => AudioEncoders.Create(AudioFormats.Opus, 22050));
        Assert.Contains("48000", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_format_is_supported_with_its_content_type()
    {
        foreach (var format in AudioFormats.All)
        {
            Assert.Contains(format, AudioEncoders.Supported);
            using var encoder = AudioEncoders.Create(format, 24000);
            Assert.Equal(AudioFormats.ContentType(format), encoder.ContentType);
        }
    }

    [Fact]
    public void Ogg_crc_matches_the_reference_check_value()
    {
        // CRC-32/CKSUM's check value without its final inversion: same polynomial, no reflection, initial value 0.
        Assert.Equal(~0x765E7680u, OggPageWriter.Crc("123456789"u8));
    }

    [Fact]
    public void Ogg_pages_lace_packets_and_mark_the_stream_ends()
    {
        var pending = new PendingBytes();
        var writer = new OggPageWriter(0x1234, pending);
        writer.Add(new byte[255], 960);
        writer.Add(new byte[10], 1920);
        writer.Flush();
        writer.Add(new byte[3], 2000);
        writer.End();
        var bytes = pending.Take().ToArray();

        var first = ReadPage(bytes, 0);
        Assert.Equal(0x02, first.Flags);
        Assert.Equal(1920, first.Granule);
        Assert.Equal(0u, first.Sequence);
        Assert.Equal(new byte[] { 255, 0, 10 }, first.Lacing);
        var second = ReadPage(bytes, first.Length);
        Assert.Equal(0x04, second.Flags);
        Assert.Equal(2000, second.Granule);
        Assert.Equal(1u, second.Sequence);
        Assert.Equal(new byte[] { 3 }, second.Lacing);
        Assert.Equal(bytes.Length, first.Length + second.Length);
    }

    private static async Task RoundTripAsync(string format, int sampleRate, ITestOutputHelper output, bool streamed = false)
    {
        var input = TestSignal(sampleRate);
        byte[] encoded;
        Framing framing;
        using (var encoder = AudioEncoders.Create(format, sampleRate, streamed))
        {
            encoded = await EncodeInChunksAsync(encoder, input, ChunkSizes);
            framing = FramingOf(encoder);
        }

        // Opus goes through libopus, the reference decoder browsers use: ffmpeg's own Opus decoder (5.1) garbles some
        // SILK and hybrid frames that libopus decodes cleanly, whoever encoded them.
        var decoded = format == AudioFormats.Opus
            ? await DecodedAudio.FfmpegDecodeAsync(encoded, "opus", decoder: "libopus")
            : await DecodedAudio.FfmpegDecodeAsync(encoded, format);

        // Opus always decodes at 48 kHz; every other format at the rate it was given.
        var decodedRate = format == AudioFormats.Opus ? OggOpusEncoder.GranuleRate : sampleRate;
        Assert.Equal(decodedRate, decoded.SampleRate);
        var scale = decodedRate / sampleRate;
        var expected = input.Length * scale;
        var audible = decoded.Samples.Length - (framing.Leading * scale);
        var error = (double)(audible - expected) / expected;
        output.WriteLine(
            $"{format} {sampleRate} Hz: {encoded.Length} bytes, {decoded.Samples.Length} samples decoded at {decoded.SampleRate} Hz, " +
            $"{audible} after {framing.Leading * scale} leading, duration error {error:+0.00%;-0.00%}");

        // Formats without end trimming (MP3, ADTS) pad the last frame; the rest decode to exactly the input's length.
        Assert.InRange(audible, expected, expected + (framing.TrailingPadding * scale));
        Assert.InRange(error, 0, Math.Max(0.02, (double)framing.TrailingPadding / input.Length));

        // The same sound at the same place: loudness envelopes match once the stated leading samples are skipped.
        var (lag, correlation) = EnvelopeAlignment(input, sampleRate, decoded.Samples.AsSpan(framing.Leading * scale), decodedRate);
        output.WriteLine($"  envelope lag {lag * EnvelopeFrameSeconds * 1000:0} ms, correlation {correlation:0.000}");
        Assert.InRange(lag, -1, 1);
        Assert.True(correlation > 0.9, $"envelope correlation {correlation:0.000}");
    }

    private readonly record struct Framing(int Leading, int TrailingPadding);

    /// <summary>Silence a decoder plays before the audio, and how much padding may follow it, in input samples.</summary>
    private static Framing FramingOf(IAudioEncoder encoder) => encoder switch
    {
        // The Info tag that opens the stream has ffmpeg skip LAME's delay and its decoder's own.
        Mp3Encoder mp3 => new Framing(0, Mp3Length.MaxTrailing(mp3.FrameSamples)),
        AacEncoder => new Framing(AacEncoder.PrimingSamples, AacEncoder.FrameSamples - 1),
        _ => new Framing(0, 0),
    };

    private static async Task<byte[]> EncodeAsync(string format, int sampleRate, float[] input, int[] chunkSizes)
    {
        using var encoder = AudioEncoders.Create(format, sampleRate);
        return await EncodeInChunksAsync(encoder, input, chunkSizes);
    }

    /// <summary>The whole stream, fed <paramref name="chunkSizes"/> samples at a time, over and over.</summary>
    private static async Task<byte[]> EncodeInChunksAsync(IAudioEncoder encoder, float[] input, int[] chunkSizes)
    {
        using var stream = new MemoryStream();
        stream.Write(encoder.Begin().Span);
        var offset = 0;
        for (var i = 0; offset < input.Length; i++)
        {
            var count = Math.Min(chunkSizes[i % chunkSizes.Length], input.Length - offset);
            stream.Write((await encoder.EncodeAsync(input.AsMemory(offset, count), CancellationToken.None)).Span);
            offset += count;
        }

        stream.Write((await encoder.FinishAsync(CancellationToken.None)).Span);
        return stream.ToArray();
    }

    private static async Task AssertProcessEndsAsync(int pid)
    {
        var waiting = Stopwatch.StartNew();
        while (Directory.Exists($"/proc/{pid}") && waiting.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(10);
        }

        Assert.False(Directory.Exists($"/proc/{pid}"), $"ffmpeg {pid} outlived its encoder");
    }

    /// <summary>
    /// A rising tone switched on and off every 300 ms, with three noise bursts: sharp edges in the loudness envelope
    /// to align on, tonal and noisy content for the codecs.
    /// </summary>
    private static float[] TestSignal(int sampleRate)
    {
        var samples = new float[(int)(SignalSeconds * sampleRate)];
        var noise = new Random(sampleRate);
        var top = 0.35 * sampleRate;
        double phase = 0;
        for (var i = 0; i < samples.Length; i++)
        {
            var t = (double)i / sampleRate;
            var frequency = 150 + ((top - 150) * t / SignalSeconds);
            phase += 2 * Math.PI * frequency / sampleRate;
            var tone = t % 0.3 < 0.22 ? 0.3 * Math.Sin(phase) : 0;
            var burst = t is >= 0.5 and < 0.6 or >= 1.2 and < 1.25 or >= 1.9 and < 2.1 ? 0.25 * ((noise.NextDouble() * 2) - 1) : 0;
            samples[i] = (float)(tone + burst);
        }

        return samples;
    }

    private const double EnvelopeFrameSeconds = 0.005;

    /// <summary>The lag (in 5 ms frames) at which the decoded loudness envelope best matches the input's, and how well.</summary>
    private static (int Lag, double Correlation) EnvelopeAlignment(float[] input, int inputRate, ReadOnlySpan<float> decoded, int decodedRate)
    {
        var reference = Envelope(input, inputRate);
        var candidate = Envelope(decoded, decodedRate);
        const int maxLag = 40;
        var best = (Lag: 0, Correlation: double.MinValue);
        for (var lag = -maxLag; lag <= maxLag; lag++)
        {
            var count = Math.Min(reference.Length, candidate.Length) - (2 * maxLag);
            var a = reference.AsSpan(maxLag, count);
            var b = candidate.AsSpan(maxLag + lag, count);
            var correlation = Pearson(a, b);
            if (correlation > best.Correlation)
            {
                best = (lag, correlation);
            }
        }

        return best;
    }

    private static double[] Envelope(ReadOnlySpan<float> samples, int sampleRate)
    {
        var frames = (int)(samples.Length / (sampleRate * EnvelopeFrameSeconds));
        var envelope = new double[frames];
        for (var f = 0; f < frames; f++)
        {
            var start = (int)(f * sampleRate * EnvelopeFrameSeconds);
            var end = (int)((f + 1) * sampleRate * EnvelopeFrameSeconds);
            double sum = 0;
            foreach (var s in samples[start..end])
            {
                sum += s * s;
            }

            envelope[f] = Math.Sqrt(sum / (end - start));
        }

        return envelope;
    }

    private static double Pearson(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double meanA = 0, meanB = 0;
        for (var i = 0; i < a.Length; i++)
        {
            meanA += a[i];
            meanB += b[i];
        }

        meanA /= a.Length;
        meanB /= b.Length;
        double covariance = 0, varianceA = 0, varianceB = 0;
        for (var i = 0; i < a.Length; i++)
        {
            covariance += (a[i] - meanA) * (b[i] - meanB);
            varianceA += (a[i] - meanA) * (a[i] - meanA);
            varianceB += (b[i] - meanB) * (b[i] - meanB);
        }

        return covariance / Math.Sqrt(varianceA * varianceB);
    }

    private readonly record struct OggPage(int Length, byte Flags, long Granule, uint Sequence, byte[] Lacing);

    /// <summary>Reads one page header and checks its CRC the way a demuxer does: over the page with the CRC field zeroed.</summary>
    private static OggPage ReadPage(byte[] bytes, int offset)
    {
        var span = bytes.AsSpan(offset);
        Assert.True(span.StartsWith("OggS"u8));
        var segments = span[26];
        var lacing = span.Slice(27, segments).ToArray();
        var length = 27 + segments + lacing.Sum(l => l);
        var page = span[..length].ToArray();
        var crc = BinaryPrimitives.ReadUInt32LittleEndian(page.AsSpan(22));
        page.AsSpan(22, 4).Clear();
        Assert.Equal(OggPageWriter.Crc(page), crc);
        return new OggPage(
            length, span[5], BinaryPrimitives.ReadInt64LittleEndian(span[6..]), BinaryPrimitives.ReadUInt32LittleEndian(span[18..]), lacing);
    }
}
