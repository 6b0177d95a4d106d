using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Mesh.Backend.Pipeline.Audio;
using Xunit.Abstractions;

namespace Mesh.Tests.Integration;

/// <summary>
/// How soon an encoded stream's audio reaches the client, against a backend whose one worker takes
/// <see cref="SentenceDelayMs"/> more for every sentence: the second sentence's audio cannot exist before two such
/// delays have passed since the request was sent (the first's, one), so whatever the client has by then was sent before
/// it, however loaded the machine. The first sentence's audio comes a whole delay before that cutoff, so a client that
/// reads it seconds late still counts it as early.
/// </summary>
public sealed class EncodedStreamLatencyTests(EncodedStreamLatencyTests.SlowBackend slow, ITestOutputHelper output)
    : IClassFixture<EncodedStreamLatencyTests.SlowBackend>
{
    private const int SentenceDelayMs = 3000;
    private const int SampleRate = 22050;
    private const string TwoSentences = "The first sentence is short. The second one follows it!";

    // ffmpeg's AAC encoder codes a frame once it has the two after it, so it keeps the first sentence's last partial frame
    // and two whole ones until more audio comes: under 0.19 s at 22.05 kHz, all of it the pause that ends the sentence.
    private const double AacHeldBackSeconds = 4.0 * AacEncoder.FrameSamples / SampleRate;

    private static readonly TimeSpan FirstAudioNotBefore = TimeSpan.FromMilliseconds(SentenceDelayMs);
    private static readonly TimeSpan SecondSentenceNotBefore = TimeSpan.FromMilliseconds(2 * SentenceDelayMs);

    // /proc's clocks count hundredths of a second, and a timer may fire a few milliseconds before it is due.
    private static readonly TimeSpan ClockAllowance = TimeSpan.FromMilliseconds(50);

    [Theory]
    [InlineData("audio")]
    [InlineData("sse")]
    public async Task Aac_sends_the_whole_first_sentence_before_the_second_is_synthesized(string streamFormat)
    {
        // Before, ffmpeg's frames went out only with the next audio fed to it: what ffmpeg and its 64 KiB pipe held
        // when the first sentence's last chunk was written (up to 0.74 s of audio) waited for the second sentence.
        using var client = new HttpClient { BaseAddress = slow.Backend.Url };
        var firstSentence = PcmSeconds((await ReceiveAsync(client, "pcm", streamFormat)).BeforeSecondSentence);
        var aac = (await ReceiveAsync(client, "aac", streamFormat)).BeforeSecondSentence;

        var frames = WholeAdtsFrames(aac);
        var decoded = frames.Length == 0 ? new DecodedAudio([], SampleRate) : await DecodedAudio.FfmpegDecodeAsync(frames, "aac");
        var aacSeconds = Math.Max(0, decoded.Samples.Length - AacEncoder.PrimingSamples) / (double)SampleRate;
        output.WriteLine($"{streamFormat}: first sentence {firstSentence:0.000} s as pcm, {aacSeconds:0.000} s decodable as aac");
        Assert.InRange(aacSeconds, firstSentence - AacHeldBackSeconds, firstSentence);
    }

    [Theory]
    [InlineData("audio")]
    [InlineData("sse")]
    public async Task Flac_asked_as_a_stream_sends_the_first_sentence_before_the_second_is_synthesized(string streamFormat)
    {
        // Before, FLAC was written whole at the end whatever the request, so nothing came before the last sentence.
        using var client = new HttpClient { BaseAddress = slow.Backend.Url };
        var pcm = await ReceiveAsync(client, "pcm", streamFormat);
        var flac = await ReceiveAsync(client, "flac", streamFormat);

        var firstSentence = PcmSeconds(pcm.BeforeSecondSentence);
        var early = flac.BeforeSecondSentence.Length == 0 ? 0 : (await DecodedAudio.FfmpegDecodeAsync(flac.BeforeSecondSentence, "flac")).DurationSeconds;
        output.WriteLine($"{streamFormat}: first sentence {firstSentence:0.000} s as pcm, {early:0.000} s decodable as flac");
        // libFLAC keeps the last partial block until more audio comes.
        Assert.InRange(early, firstSentence - ((double)FlacEncoder.BlockSize(SampleRate) / SampleRate), firstSentence);

        // The whole stream decodes to all of the text's audio, though its header does not say how long that is;
        // espeak's output varies by a few milliseconds between runs.
        var whole = await DecodedAudio.FfmpegDecodeAsync(flac.All, "flac");
        Assert.InRange(whole.DurationSeconds, PcmSeconds(pcm.All) * 0.99, PcmSeconds(pcm.All) * 1.01);
    }

    [Fact]
    public async Task Flac_not_asked_as_a_stream_is_written_whole_with_its_exact_length()
    {
        using var client = new HttpClient { BaseAddress = slow.Backend.Url };
        var body = new { model = "tts-1", voice = "alloy", input = TwoSentences, response_format = "flac" };
        using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), body);
        var file = await response.Content.ReadAsByteArrayAsync();

        // STREAMINFO follows "fLaC" and its block header; total samples are the low 36 bits of bytes 18..25.
        var totalSamples = BinaryPrimitives.ReadUInt64BigEndian(file.AsSpan(18)) & 0xF_FFFF_FFFFUL;
        Assert.Equal((ulong)(await DecodedAudio.FfmpegDecodeAsync(file, "flac")).Samples.Length, totalSamples);
    }

    [Fact]
    public async Task Aac_starts_its_ffmpeg_while_the_first_sentence_is_synthesized()
    {
        // Before, ffmpeg was started by the first audio, so its start (70 ms on an idle machine, more on a busy one)
        // came before the first frame. Started before synthesis, it has run for the first sentence's delay at least
        // when that audio reaches the client, however late the request or this look at /proc comes.
        var earlier = FfmpegChildren();
        int NewFfmpeg() => FfmpegChildren().Except(earlier).FirstOrDefault();
        using var client = new HttpClient { BaseAddress = slow.Backend.Url };
        var body = new { model = "tts-1", voice = "alloy", input = TwoSentences, response_format = "aac", stream_format = "audio" };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech") { Content = JsonContent.Create(body) };
        var responding = client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        int ffmpeg;
        while ((ffmpeg = NewFfmpeg()) == 0 && !responding.IsCompleted)
        {
            await Task.Delay(10);
        }

        // Still there once the first audio came: the second sentence keeps the stream, and its ffmpeg, going.
        ffmpeg = ffmpeg == 0 ? NewFfmpeg() : ffmpeg;
        Assert.True(ffmpeg != 0, "no ffmpeg by the first audio");
        var ffmpegStarted = ProcFs.StartedAfterBoot(ffmpeg);
        using var response = await responding;
        response.EnsureSuccessStatusCode();
        await using var audio = await response.Content.ReadAsStreamAsync();
        Assert.True(await audio.ReadAsync(new byte[1]) > 0, "no audio");
        var firstAudio = ProcFs.SinceBoot();

        var lead = firstAudio - ffmpegStarted;
        output.WriteLine($"ffmpeg started {lead.TotalMilliseconds:0} ms before the first audio came");
        Assert.True(lead >= FirstAudioNotBefore - ClockAllowance, $"ffmpeg started only {lead.TotalMilliseconds:0} ms before the first audio came");
    }

    private int[] FfmpegChildren() =>
        [.. ProcFs.Children(slow.Backend.Pid).Where(pid => ProcFs.CommandLine(pid).StartsWith("ffmpeg ", StringComparison.Ordinal))];

    private static double PcmSeconds(byte[] pcm) => pcm.Length / 2.0 / SampleRate;

    /// <summary>A streamed response's audio bytes: those that arrived before the second sentence could exist, and all.</summary>
    private static async Task<(byte[] BeforeSecondSentence, byte[] All)> ReceiveAsync(HttpClient client, string format, string streamFormat)
    {
        // The model's own id: its pcm comes at the model's rate, as every other format does.
        var body = new { model = "espeak", voice = "alloy", input = TwoSentences, response_format = format, stream_format = streamFormat };
        var clock = Stopwatch.StartNew();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech") { Content = JsonContent.Create(body) };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        await using var stream = await response.Content.ReadAsStreamAsync();
        using var received = new MemoryStream();
        var early = 0;
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            received.Write(buffer, 0, read);
            early = clock.Elapsed < SecondSentenceNotBefore ? (int)received.Length : early;
        }

        var bytes = received.ToArray();
        return streamFormat == "sse" ? (SseAudio(bytes[..early]), SseAudio(bytes)) : (bytes[..early], bytes);
    }

    /// <summary>The audio of the complete <c>speech.audio.delta</c> events in <paramref name="sse"/>.</summary>
    private static byte[] SseAudio(byte[] sse)
    {
        var text = Encoding.UTF8.GetString(sse);
        var complete = text[..(text.LastIndexOf("\n\n", StringComparison.Ordinal) + 1)];
        using var audio = new MemoryStream();
        foreach (var line in complete.Split('\n').Where(l => l.StartsWith("data: ", StringComparison.Ordinal)))
        {
            using var document = JsonDocument.Parse(line["data: ".Length..]);
            if (document.RootElement.GetProperty("type").GetString() == "speech.audio.delta")
            {
                audio.Write(Convert.FromBase64String(document.RootElement.GetProperty("audio").GetString()!));
            }
        }

        return audio.ToArray();
    }

    /// <summary>The ADTS frames that arrived whole: a stream cut anywhere decodes up to its last complete frame.</summary>
    private static byte[] WholeAdtsFrames(byte[] adts)
    {
        var end = 0;
        while (end + 7 <= adts.Length)
        {
            Assert.True(adts[end] == 0xFF && (adts[end + 1] & 0xF0) == 0xF0, $"no ADTS sync word at byte {end}");
            var length = ((adts[end + 3] & 0x03) << 11) | (adts[end + 4] << 3) | (adts[end + 5] >> 5);
            if (end + length > adts.Length)
            {
                break;
            }

            end += length;
        }

        return adts[..end];
    }

    /// <summary>One backend whose every sentence takes <see cref="SentenceDelayMs"/> more, shared by the tests here.</summary>
    public sealed class SlowBackend : IAsyncLifetime
    {
        private HostProcess? _backend;

        public HostProcess Backend => _backend!;

        public async Task InitializeAsync() =>
            _backend = await MeshFleet.StartBackendAsync("slow", "test", $"--Faults:SentenceDelayMs={SentenceDelayMs}");

        public async Task DisposeAsync()
        {
            if (_backend is not null)
            {
                await _backend.DisposeAsync();
            }
        }
    }
}
