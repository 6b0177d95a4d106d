using System.Net.Http.Json;
using System.Text.Json;
using Mesh.Contracts;
using Xunit.Abstractions;

namespace Mesh.Tests.Integration;

/// <summary>
/// The official OpenAI Node SDK (npm <c>openai</c>), unmodified but for its base URL, against the shared fleet's gateway
/// (<c>tests/node/openai-sdk.mjs</c>): every format, <c>speed</c>, <c>stream_format: "sse"</c>, and our errors as its
/// error classes. One run of the script; each fact checks one part of its report.
/// </summary>
[Collection(MeshFleetDefinition.Name)]
public sealed class OpenAiNodeSdkTests(MeshFleet fleet, ITestOutputHelper output)
{
    private static readonly SemaphoreSlim ReportGate = new(1, 1);
    private static JsonElement? s_report;

    public static TheoryData<string, string> Formats => new()
    {
        { "mp3", "audio/mpeg" },
        { "opus", "audio/ogg" },
        { "aac", "audio/aac" },
        { "flac", "audio/flac" },
        { "wav", "audio/wav" },
        { "pcm", "audio/pcm" },
    };

    [Theory]
    [MemberData(nameof(Formats))]
    public async Task Every_format_decodes_to_the_same_speech(string format, string contentType)
    {
        var files = (await ReportAsync()).GetProperty("files").EnumerateArray().ToDictionary(f => f.GetProperty("format").GetString()!);
        var file = files[format];
        var bytes = await File.ReadAllBytesAsync(file.GetProperty("path").GetString()!);
        Assert.Equal(contentType, file.GetProperty("contentType").GetString());
        Assert.True(HasMagic(format, bytes), $"{format} starts with {Convert.ToHexString(bytes.AsSpan(0, 12))}");

        var reference = DecodedAudio.FromWav(await File.ReadAllBytesAsync(files["wav"].GetProperty("path").GetString()!));
        var decoded = format switch
        {
            "pcm" => DecodedAudio.FromPcm16(bytes, int.Parse(file.GetProperty("sampleRate").GetString()!, System.Globalization.CultureInfo.InvariantCulture)),
            "wav" => reference,
            // libopus, the decoder browsers use (see AudioEncoderTests).
            "opus" => await DecodedAudio.FfmpegDecodeAsync(bytes, format, decoder: "libopus"),
            _ => await DecodedAudio.FfmpegDecodeAsync(bytes, format),
        };
        output.WriteLine($"{format}: {bytes.Length} bytes, {decoded.DurationSeconds:0.000} s at {decoded.SampleRate} Hz");
        Assert.InRange(decoded.DurationSeconds, reference.DurationSeconds * 0.9, reference.DurationSeconds * 1.1);
        Assert.InRange(decoded.ActiveFrameRatio, 0.3, 0.98);
    }

    /// <remarks>
    /// OpenAI's <c>pcm</c> is always 24 kHz and the SDK has no <c>sample_rate</c>, so a client plays it at 24 kHz without
    /// reading <c>X-PCM-Sample-Rate</c>: played so, it must last as long as the WAV.
    /// </remarks>
    [Fact]
    public async Task Pcm_comes_at_openais_24_khz_as_bytes_and_as_sse_deltas()
    {
        var report = await ReportAsync();
        var files = report.GetProperty("files").EnumerateArray().ToDictionary(f => f.GetProperty("format").GetString()!);
        var reference = DecodedAudio.FromWav(await ReadFileAsync(files["wav"]));
        var pcm = DecodedAudio.FromPcm16(await ReadFileAsync(files["pcm"]), OpenAiModels.PcmSampleRate);
        var sse = report.GetProperty("sse");

        Assert.Equal(["24000", "24000"], new[] { files["pcm"], sse }.Select(r => r.GetProperty("sampleRate").GetString()));
        Assert.InRange(pcm.DurationSeconds, reference.DurationSeconds * 0.98, reference.DurationSeconds * 1.02);
        Assert.InRange(sse.GetProperty("audioBytes").GetInt64() / 2.0 / OpenAiModels.PcmSampleRate, reference.DurationSeconds * 0.98, reference.DurationSeconds * 1.02);
    }

    [Fact]
    public async Task A_dated_snapshot_of_an_openai_name_is_spoken_and_retrieved()
    {
        var snapshot = (await ReportAsync()).GetProperty("snapshot");
        var speech = snapshot.GetProperty("speech");

        Assert.Equal("gpt-4o-mini-tts-2025-12-15", snapshot.GetProperty("retrieved").GetString());
        Assert.Equal("24000", speech.GetProperty("sampleRate").GetString());
        Assert.InRange(DecodedAudio.FromPcm16(await ReadFileAsync(speech), OpenAiModels.PcmSampleRate).ActiveFrameRatio, 0.3, 0.98);
    }

    [Fact]
    public async Task Text_with_a_form_feed_is_spoken()
    {
        var pages = DecodedAudio.FromWav(await ReadFileAsync((await ReportAsync()).GetProperty("formFeed")));

        Assert.InRange(pages.ActiveFrameRatio, 0.3, 0.98);
        Assert.InRange(pages.LongestPauseSeconds, 0.25, 0.45);
    }

    [Fact]
    public async Task Speed_is_passed_through()
    {
        var report = await ReportAsync();
        var normal = DecodedAudio.FromWav(await ReadFileAsync(report.GetProperty("files").EnumerateArray().Single(f => f.GetProperty("format").GetString() == "wav")));
        var fast = DecodedAudio.FromWav(await ReadFileAsync(report.GetProperty("speed")));

        Assert.InRange(fast.DurationSeconds / normal.DurationSeconds, 0.4, 0.6);
    }

    [Fact]
    public async Task Sse_stream_format_gives_audio_deltas_then_done_with_usage()
    {
        var sse = (await ReportAsync()).GetProperty("sse");

        Assert.StartsWith("text/event-stream", sse.GetProperty("contentType").GetString(), StringComparison.Ordinal);
        Assert.Equal(["speech.audio.delta", "speech.audio.done"], sse.GetProperty("types").EnumerateArray().Select(t => t.GetString()));
        Assert.True(sse.GetProperty("deltas").GetInt32() > 1, "audio arrives in several deltas");
        var last = sse.GetProperty("last");
        Assert.Equal("speech.audio.done", last.GetProperty("type").GetString());
        Assert.Equal(sse.GetProperty("audioBytes").GetInt64() / 2, last.GetProperty("usage").GetProperty("output_tokens").GetInt64());
    }

    [Fact]
    public async Task Our_errors_become_the_sdks_error_classes_with_our_message()
    {
        var errors = (await ReportAsync()).GetProperty("errors");
        using var client = fleet.CreateGatewayClient();
        const string Input = "The official client speaks through the gateway. It should not notice the difference.";

        await AssertMapped(errors.GetProperty("emptyInput"), "BadRequestError", 400, new { model = "tts-1", voice = "alloy", input = "" });
        await AssertMapped(errors.GetProperty("unknownVoice"), "NotFoundError", 404, new { model = "tts-1", voice = "no-such-voice", input = Input });
        await AssertMapped(errors.GetProperty("speedOutOfRange"), "BadRequestError", 400, new { model = "tts-1", voice = "alloy", input = Input, speed = 9 });

        async Task AssertMapped(JsonElement error, string sdkClass, int status, object request)
        {
            using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), request);
            var envelope = (await response.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope))!.Error;
            Assert.Equal(status, (int)response.StatusCode);
            Assert.True(error.GetProperty("thrown").GetBoolean());
            Assert.Equal(sdkClass, error.GetProperty("class").GetString());
            Assert.Equal(status, error.GetProperty("status").GetInt32());
            Assert.Equal(envelope.Message, error.GetProperty("errorMessage").GetString());
            Assert.Equal($"{status} {envelope.Message}", error.GetProperty("message").GetString());
            Assert.Equal(envelope.Code, error.GetProperty("code").GetString());
            Assert.Equal(envelope.Param, error.GetProperty("param").GetString());
            Assert.Equal(envelope.Type, error.GetProperty("type").GetString());
        }
    }

    [Fact]
    public async Task The_sdk_lists_and_retrieves_models_and_sends_a_custom_voice_object()
    {
        var report = await ReportAsync();
        var models = report.GetProperty("models");
        var unknown = report.GetProperty("errors").GetProperty("unknownModel");

        Assert.Contains("tts-1", models.GetProperty("ids").EnumerateArray().Select(id => id.GetString()));
        Assert.Equal("tts-1", models.GetProperty("retrieved").GetString());
        Assert.Equal(("NotFoundError", "model", "model_not_found"), (unknown.GetProperty("class").GetString(), unknown.GetProperty("param").GetString(), unknown.GetProperty("code").GetString()));
        // The SDK escapes the slash of a Hugging Face style id; the 404 names the id it was given.
        Assert.StartsWith("The model 'org/model' does not exist;", report.GetProperty("errors").GetProperty("slashedModel").GetProperty("errorMessage").GetString(), StringComparison.Ordinal);
        var custom = DecodedAudio.FromWav(await ReadFileAsync(report.GetProperty("customVoice")));
        Assert.InRange(custom.ActiveFrameRatio, 0.3, 0.98);
    }

    private static bool HasMagic(string format, byte[] bytes) => format switch
    {
        // An ID3 tag, or straight into an MPEG audio frame (11 sync bits).
        "mp3" => bytes.AsSpan().StartsWith("ID3"u8) || (bytes[0] == 0xFF && (bytes[1] & 0xE0) == 0xE0),
        "opus" => bytes.AsSpan().StartsWith("OggS"u8) && bytes.AsSpan(0, 64).IndexOf("OpusHead"u8) > 0,
        // ADTS: 12 sync bits.
        "aac" => bytes[0] == 0xFF && (bytes[1] & 0xF0) == 0xF0,
        "flac" => bytes.AsSpan().StartsWith("fLaC"u8),
        "wav" => bytes.AsSpan().StartsWith("RIFF"u8) && bytes.AsSpan(8).StartsWith("WAVE"u8),
        "pcm" => bytes.Length % 2 == 0 && bytes.Length > 22050,
        _ => false,
    };

    private static Task<byte[]> ReadFileAsync(JsonElement file) => File.ReadAllBytesAsync(file.GetProperty("path").GetString()!);

    private async Task<JsonElement> ReportAsync()
    {
        await ReportGate.WaitAsync();
        try
        {
            return s_report ??= await NodeScripts.RunAsync(
                "openai-sdk.mjs", ["--url", fleet.Gateway.Url.ToString(), "--out", NodeScripts.ArtifactsFolder("openai-sdk")], TimeSpan.FromSeconds(90));
        }
        finally
        {
            ReportGate.Release();
        }
    }
}
