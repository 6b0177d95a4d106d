using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Mesh.Contracts;

namespace Mesh.Tests.Integration;

/// <summary>Every response format through the gateway, decoded by Debian's ffmpeg: right rate, duration of the PCM.</summary>
[Collection(MeshFleetDefinition.Name)]
public sealed class FormatsThroughGatewayTests(MeshFleet fleet)
{
    private const string Text = "Every format must decode to the same speech. Two sentences make it a stream.";

    [Theory]
    [InlineData("wav", "wav", 22050, null)]
    [InlineData("mp3", "mp3", 22050, null)]
    [InlineData("flac", "flac", 22050, null)]
    [InlineData("aac", "aac", 22050, null)]
    [InlineData("opus", "ogg", 48000, "libopus")]
    public async Task Each_format_decodes_at_its_rate_with_the_duration_of_the_pcm(string format, string extension, int rate, string? decoder)
    {
        using var client = fleet.CreateGatewayClient();
        var pcm = await SynthesizeAsync(client, "pcm");
        // pcm under tts-1 comes at OpenAI's rate; the other formats at the model's.
        var expectedSeconds = pcm.Length / 2.0 / OpenAiModels.PcmSampleRate;

        var encoded = await SynthesizeAsync(client, format);
        var decoded = await DecodedAudio.FfmpegDecodeAsync(encoded, extension, decoder);

        Assert.Equal(rate, decoded.SampleRate);
        // espeak varies by a few ms between runs; mp3 and aac add up to one frame of encoder padding (< 50 ms).
        Assert.InRange(decoded.DurationSeconds, expectedSeconds * 0.98, expectedSeconds * 1.02 + 0.05);
        Assert.True(decoded.Rms > 0.02, $"{format} decodes to near silence");
    }

    /// <remarks>
    /// The Info tag the stream opens with has the decoder skip LAME's delay and its own, which leaves the rest of the last
    /// frame after the audio (<see cref="Mp3Length"/>). That is held to the audio the stream carried, as its usage counts
    /// it, not to a second synthesis as pcm: espeak-ng's length of the same text drifts with what the backend spoke before,
    /// 18.5 ms over 30 requests of this one at 8 kHz. A whole MP3 and a streamed one are the same encoder's bytes.
    /// </remarks>
    [Fact]
    public async Task Mp3_decodes_to_the_audio_it_carried_and_the_rest_of_its_last_frame()
    {
        const int Rate = 8000;
        const int FrameSamples = 576;
        using var client = fleet.CreateGatewayClient();
        var events = await SseEvents.ReadAsync(
            client, "/v1/audio/speech", new { model = "tts-1", voice = "alloy", input = Text, response_format = "mp3", sample_rate = Rate, stream_format = "sse" });

        var mp3 = events
            .Where(e => e.GetProperty("type").GetString() == "speech.audio.delta")
            .SelectMany(e => Convert.FromBase64String(e.GetProperty("audio").GetString()!))
            .ToArray();
        var carried = events[^1].GetProperty("usage").GetProperty("output_tokens").GetInt64();
        var decoded = await DecodedAudio.FfmpegDecodeAsync(mp3, "mp3");

        Assert.Equal(Rate, decoded.SampleRate);
        Assert.Equal(Mp3Length.Decoded(carried, FrameSamples), decoded.Samples.Length);
    }

    [Theory]
    [InlineData("mp3", 16000)]
    [InlineData("flac", 44100)]
    [InlineData("opus", 24000)]
    public async Task Formats_carry_a_requested_rate(string format, int rate)
    {
        using var client = fleet.CreateGatewayClient();
        using var response = await client.PostAsJsonAsync(
            new Uri("/v1/audio/speech", UriKind.Relative), new { model = "tts-1", voice = "alloy", input = Text, response_format = format, sample_rate = rate });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var decoded = await DecodedAudio.FfmpegDecodeAsync(await response.Content.ReadAsByteArrayAsync(), format == "opus" ? "ogg" : format, format == "opus" ? "libopus" : null);
        Assert.Equal(format == "opus" ? 48000 : rate, decoded.SampleRate);
    }

    [Fact]
    public async Task Opus_refuses_a_rate_it_cannot_code_and_names_exactly_the_rates_it_takes()
    {
        const int Refused = 22050;
        using var client = fleet.CreateGatewayClient();
        using var response = await OpusAsync(client, Refused);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope))!.Error;
        Assert.Equal(("sample_rate", "unsupported_value"), (error.Param, error.Code));
        var named = Regex.Matches(error.Message, @"\b\d{4,5}\b").Select(m => int.Parse(m.Value, CultureInfo.InvariantCulture)).Where(r => r != Refused).ToHashSet();
        Assert.NotEmpty(named);
        // A rate the message offers must work, and every rate the API offers that works must be in the message.
        foreach (var rate in AudioFormats.SampleRates.Union(named))
        {
            using var attempt = await OpusAsync(client, rate);
            Assert.True(
                named.Contains(rate) == (attempt.StatusCode == HttpStatusCode.OK),
                $"{rate} Hz: {(named.Contains(rate) ? "named" : "not named")} in \"{error.Message}\", answered {(int)attempt.StatusCode}");
        }
    }

    private static Task<HttpResponseMessage> OpusAsync(HttpClient client, int rate) => client.PostAsJsonAsync(
        new Uri("/v1/audio/speech", UriKind.Relative), new { model = "tts-1", voice = "alloy", input = "Hi.", response_format = "opus", sample_rate = rate });

    [Theory]
    [InlineData("/v1/audio/speech", "pcm", null, "24000")]
    [InlineData("/v1/audio/speech", "pcm", "sse", "24000")]
    [InlineData("/v1/audio/speech/stream/pcm", null, null, "22050")]
    [InlineData("/v1/audio/speech/stream", null, null, "22050")]
    [InlineData("/v1/audio/speech", "mp3", null, null)]
    [InlineData("/v1/audio/speech", "wav", null, null)]
    [InlineData("/v1/audio/speech", "opus", "audio", null)]
    [InlineData("/v1/audio/speech", "mp3", "sse", null)]
    public async Task Only_raw_pcm_audio_states_its_format_in_pcm_headers(string path, string? format, string? streamFormat, string? statedRate)
    {
        using var client = fleet.CreateGatewayClient();
        using var response = await client.PostAsJsonAsync(
            new Uri(path, UriKind.Relative),
            new { model = "tts-1", voice = "alloy", input = "Hi.", response_format = format, stream_format = streamFormat });
        await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        string?[] stated = [.. new[] { MeshHeaders.PcmSampleRate, MeshHeaders.PcmBitDepth, MeshHeaders.PcmChannels }
            .Select(name => response.Headers.TryGetValues(name, out var values) ? values.Single() : null)];
        // Under tts-1, OpenAI's pcm is 24 kHz; Mesh's own PCM surfaces send the model's rate.
        Assert.Equal(statedRate is null ? [null, null, null] : [statedRate, "16", "1"], stated);
    }

    private static Task<byte[]> SynthesizeAsync(HttpClient client, string format) =>
        SynthesizeAsync(client, new { model = "tts-1", voice = "alloy", input = Text, response_format = format });

    private static async Task<byte[]> SynthesizeAsync(HttpClient client, object request)
    {
        using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsByteArrayAsync();
    }
}
