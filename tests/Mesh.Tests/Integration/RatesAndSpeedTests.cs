using System.Net;
using System.Net.Http.Json;
using System.Text;
using Mesh.Contracts;

namespace Mesh.Tests.Integration;

/// <summary>Resampling to every rate and pitch-preserving speed, end to end through the gateway.</summary>
[Collection(MeshFleetDefinition.Name)]
public sealed class RatesAndSpeedTests(MeshFleet fleet)
{
    private const string Text = "Resampling must keep the length of the speech the same at every rate.";

    [Theory]
    [InlineData(8000)]
    [InlineData(16000)]
    [InlineData(22050)]
    [InlineData(24000)]
    [InlineData(44100)]
    [InlineData(48000)]
    public async Task Every_rate_keeps_the_duration_and_states_the_rate(int rate)
    {
        using var client = fleet.CreateGatewayClient();
        var native = await SynthesizeAsync(client, new { model = "tts-1", voice = "alloy", input = Text, response_format = "wav" });
        var resampled = await SynthesizeAsync(client, new { model = "tts-1", voice = "alloy", input = Text, response_format = "wav", sample_rate = rate });

        Assert.Equal(rate, resampled.SampleRate);
        // espeak's own output varies by a few milliseconds between runs of the same text; resampling must add nothing to that.
        Assert.InRange(resampled.DurationSeconds, native.DurationSeconds * 0.99, native.DurationSeconds * 1.01);
        Assert.InRange(resampled.Rms, native.Rms * 0.8, native.Rms * 1.2);
    }

    [Fact]
    public async Task A_rate_written_as_a_float_is_that_rate()
    {
        // Python's json writes a float's 16000.0 so; a serializer here would write 16000, hence the body as text.
        using var client = fleet.CreateGatewayClient();
        using var content = new StringContent(
            $$"""{"model":"tts-1","voice":"alloy","input":"{{Text}}","response_format":"wav","sample_rate":16000.0}""", Encoding.UTF8, "application/json");
        using var response = await client.PostAsync(new Uri("/v1/audio/speech", UriKind.Relative), content);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(16000, DecodedAudio.FromWav(await response.Content.ReadAsByteArrayAsync()).SampleRate);
    }

    [Fact]
    public async Task No_sample_rate_means_the_native_rate()
    {
        using var client = fleet.CreateGatewayClient();
        var audio = await SynthesizeAsync(client, new { model = "tts-1", voice = "alloy", input = Text, response_format = "wav" });

        Assert.Equal(22050, audio.SampleRate);
    }

    /// <remarks>OpenAI's <c>pcm</c> is always 24 kHz; a client that asks for a rate still gets the rate it asked for.</remarks>
    [Theory]
    [InlineData(16000)]
    [InlineData(22050)]
    public async Task Pcm_under_an_openai_name_is_24_khz_unless_a_sample_rate_is_asked(int asked)
    {
        using var client = fleet.CreateGatewayClient();
        var native = await SynthesizeAsync(client, new { model = "tts-1", voice = "alloy", input = Text, response_format = "wav" });
        var openAi = await SynthesizeAsync(client, new { model = "tts-1", voice = "alloy", input = Text, response_format = "pcm" });
        var resampled = await SynthesizeAsync(client, new { model = "tts-1", voice = "alloy", input = Text, response_format = "pcm", sample_rate = asked });

        Assert.Equal((OpenAiModels.PcmSampleRate, asked), (openAi.SampleRate, resampled.SampleRate));
        Assert.InRange(openAi.DurationSeconds, native.DurationSeconds * 0.99, native.DurationSeconds * 1.01);
        Assert.InRange(resampled.DurationSeconds, native.DurationSeconds * 0.99, native.DurationSeconds * 1.01);
    }

    public static TheoryData<string, double> TextsAndSpeeds()
    {
        // Texts of several sentences, where espeak-ng's pauses between and within them are much of the length and
        // change with its rate faster than its speech: at 350 words per minute the first was 2.3× shorter, the second 3.2×.
        string[] texts =
        [
            "Turn left at the second roundabout, then keep right. Your verification code is four, seven, two, nine. The museum opens at ten and closes at half past five.",
            "Hi. How are you? I am fine.",
        ];
        var data = new TheoryData<string, double>();
        foreach (var text in texts)
        {
            foreach (var speed in new[] { 0.25, 0.5, 0.75, 1.25, 1.5, 2.0, 3.0, 4.0 })
            {
                data.Add(text, speed);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(TextsAndSpeeds))]
    public async Task Speed_divides_the_duration_of_a_text_of_several_sentences(string input, double speed)
    {
        using var client = fleet.CreateGatewayClient();
        var normal = await SynthesizeAsync(client, new { model = "tts-1", voice = "alloy", input, response_format = "pcm" });
        var changed = await SynthesizeAsync(client, new { model = "tts-1", voice = "alloy", input, response_format = "pcm", speed });

        // A client times its audio by the speed it asked for: speed 2 is half as long, whatever the text.
        var ratio = normal.DurationSeconds / changed.DurationSeconds;
        Assert.InRange(ratio, speed * 0.92, speed * 1.08);
    }

    [Theory]
    [InlineData("Hi.")]
    [InlineData(Text)]
    public async Task A_faster_speed_never_gives_longer_audio(string input)
    {
        using var client = fleet.CreateGatewayClient();
        double[] speeds = [1.0, 1.5, 2.0, 2.3, 2.5, 2.6, 3.0, 4.0];
        var durations = new List<double>();
        foreach (var speed in speeds)
        {
            durations.Add((await SynthesizeAsync(client, new { model = "tts-1", voice = "alloy", input, response_format = "pcm", speed })).DurationSeconds);
        }

        // espeak's own length varies by a few milliseconds between runs of the same text.
        for (var i = 1; i < speeds.Length; i++)
        {
            Assert.True(durations[i] <= durations[i - 1] + 0.005, $"speed {speeds[i]}: {durations[i]:0.000} s after {durations[i - 1]:0.000} s at {speeds[i - 1]}");
        }
    }

    /// <summary>The audio at the rate it states: in its WAV header, or for raw PCM in <c>X-PCM-Sample-Rate</c>.</summary>
    private static async Task<DecodedAudio> SynthesizeAsync(HttpClient client, object body)
    {
        using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        return response.Content.Headers.ContentType?.MediaType == "audio/wav"
            ? DecodedAudio.FromWav(bytes)
            : DecodedAudio.FromPcm16(bytes, int.Parse(response.Headers.GetValues(MeshHeaders.PcmSampleRate).Single(), System.Globalization.CultureInfo.InvariantCulture));
    }
}
