using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Mesh.Contracts;
using Mesh.Gateway.Auth;
using Xunit.Abstractions;

namespace Mesh.Tests.Integration;

/// <summary>
/// The playground page in headless Chromium (Debian's, driven by playwright-core from <c>tests/node/playground.mjs</c>)
/// against the shared fleet, and against a second gateway over the same backends that requires an API key. One browser
/// session does every step; each fact checks one part of its report.
/// </summary>
[Collection(MeshFleetDefinition.Name)]
public sealed class PlaygroundBrowserTests(MeshFleet fleet, ITestOutputHelper output)
{
    private static readonly SemaphoreSlim ReportGate = new(1, 1);
    private static JsonElement? s_report;

    [Fact]
    public async Task Speak_streams_audio_that_is_scheduled_and_shows_ttfa_variant_and_backend()
    {
        var report = await ReportAsync();
        var speak = report.GetProperty("speak");

        Assert.Equal(0, report.GetProperty("pageErrors").GetArrayLength());
        Assert.StartsWith("text/html", report.GetProperty("contentType").GetString(), StringComparison.Ordinal);
        Assert.True(speak.GetProperty("playedSeconds").GetDouble() > 0, $"played {speak.GetProperty("playedSeconds")} s");
        Assert.InRange(speak.GetProperty("scheduledSeconds").GetDouble(), 2.0, 15.0);
        Assert.True(speak.GetProperty("chunks").GetInt32() >= 1, "audio was scheduled");
        // Each chunk (how many depends on how the network reads split the stream) was queued at the end of the one
        // before, never late: gapless.
        Assert.Equal(0, speak.GetProperty("underruns").GetInt32());
        Assert.InRange(speak.GetProperty("lastTtfaMs").GetInt32(), 1, 10_000);
        Assert.Matches(@"^\d[\d,]* ms$", report.GetProperty("shown").GetProperty("ttfa").GetString());
        Assert.Matches(@"^\d+\.\d{3}$", report.GetProperty("shown").GetProperty("rtf").GetString());
        Assert.Equal(JsonValueKind.Null, speak.GetProperty("lastError").ValueKind);

        // The variant picked in the page was forced, and the answer names the backend that spoke.
        Assert.Equal("test", report.GetProperty("forcedVariant").GetString());
        Assert.Equal("test", report.GetProperty("shown").GetProperty("variant").GetString());
        Assert.Matches("^test-b[12]$", report.GetProperty("shown").GetProperty("backend").GetString());
        Assert.Equal(22050, speak.GetProperty("lastSampleRate").GetInt32());

        var screenshot = report.GetProperty("screenshot").GetString()!;
        Assert.True(new FileInfo(screenshot).Length > 10_000, "screenshot saved");
        output.WriteLine($"screenshot: {screenshot}");
        Console.WriteLine($"playground screenshot: {screenshot}");
    }

    [Fact]
    public async Task Page_is_filled_from_the_catalog_labelled_and_keyboard_visible()
    {
        var report = await ReportAsync();

        Assert.Equal("Mesh playground", report.GetProperty("title").GetString());
        Assert.True(report.GetProperty("voices").GetInt32() > 100, "espeak's voices are listed");
        Assert.Contains("tts-1 (espeak)", report.GetProperty("models").EnumerateArray().Select(m => m.GetString()));
        Assert.Equal(["", "test"], report.GetProperty("variants").EnumerateArray().Select(v => v.GetString()));
        Assert.Equal(0, report.GetProperty("unlabelled").GetArrayLength());
        Assert.Equal("74 / 4,096 characters", report.GetProperty("counter").GetString());
        Assert.Equal("3,000 / 4,096 characters", report.GetProperty("emojiCounter").GetString());
        Assert.Equal(3000, report.GetProperty("emojiKept").GetInt32());

        // Tab from the text box lands on the next control, and the focus ring is drawn.
        var focus = report.GetProperty("focusAfterTab");
        Assert.Equal("voice", focus.GetProperty("id").GetString());
        Assert.NotEqual("none", focus.GetProperty("outlineStyle").GetString());
        Assert.NotEqual("0px", focus.GetProperty("outlineWidth").GetString());
    }

    [Fact]
    public async Task Invalid_input_shows_the_servers_own_message()
    {
        var report = await ReportAsync();
        using var client = fleet.CreateGatewayClient();

        var unknownVoice = await ServerMessageAsync(client, new { model = "tts-1", voice = "no-such-voice", input = "Hello." });
        Assert.Equal(unknownVoice, report.GetProperty("unknownVoice").GetProperty("error").GetString());
        Assert.True(report.GetProperty("unknownVoice").GetProperty("visible").GetBoolean());

        var emptyInput = await ServerMessageAsync(client, new { model = "tts-1", voice = "alloy", input = "" });
        Assert.Equal(emptyInput, report.GetProperty("emptyInput").GetProperty("error").GetString());
        output.WriteLine($"error screenshot: {report.GetProperty("errorScreenshot").GetString()}");
    }

    [Fact]
    public async Task Speaking_again_replaces_the_request_without_claiming_it_stopped()
    {
        var restart = (await ReportAsync()).GetProperty("restart");
        var shown = restart.GetProperty("shown").EnumerateArray().Select(s => s.GetString()).ToArray();

        Assert.Equal(1, restart.GetProperty("requests").GetInt32());
        Assert.Equal(JsonValueKind.Null, restart.GetProperty("lastError").ValueKind);
        Assert.DoesNotContain("Stopped.", shown);
        Assert.StartsWith("Done: ", shown[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Download_saves_the_whole_file_in_the_chosen_format()
    {
        var report = await ReportAsync();
        var download = report.GetProperty("download");

        Assert.Equal("speech.wav", download.GetProperty("name").GetString());
        var audio = DecodedAudio.FromWav(await File.ReadAllBytesAsync(download.GetProperty("path").GetString()!));
        Assert.InRange(audio.DurationSeconds, 2.0, 15.0);
        Assert.Equal("audio/wav", download.GetProperty("state").GetProperty("type").GetString());
    }

    [Fact]
    public async Task The_native_rate_label_gives_a_pcm_file_the_rate_the_server_states_for_the_model()
    {
        var report = await ReportAsync();

        // As served: a pcm file under OpenAI's name comes at its 24 kHz, under the model's own id at the model's rate.
        var served = report.GetProperty("rateLabels");
        Assert.Equal("Native (22,050 Hz; the pcm file 24,000 Hz)", served.GetProperty("tts-1").GetProperty("pcm").GetString());
        Assert.Equal("Native (22,050 Hz)", served.GetProperty("tts-1").GetProperty("wav").GetString());
        Assert.Equal("Native (22,050 Hz)", served.GetProperty("espeak").GetProperty("pcm").GetString());

        // With each entry's pcm_sample_rate turned around, the labels turn with it: the page keeps no names of its own.
        var restated = report.GetProperty("restatedRateLabels");
        Assert.Equal("Native (22,050 Hz)", restated.GetProperty("tts-1").GetProperty("pcm").GetString());
        Assert.Equal("Native (22,050 Hz; the pcm file 16,000 Hz)", restated.GetProperty("espeak").GetProperty("pcm").GetString());
        Assert.Equal("Native (22,050 Hz)", restated.GetProperty("espeak").GetProperty("wav").GetString());
    }

    [Fact]
    public async Task With_keys_the_page_asks_for_one_and_keeps_it_in_session_storage_only()
    {
        var keyed = (await ReportAsync()).GetProperty("keyed");

        Assert.Contains("Missing API key: send 'Authorization: Bearer YOUR_KEY'.", keyed.GetProperty("withoutKey").GetString(), StringComparison.Ordinal);
        // Spoken with Ctrl+Enter from the text box, once the key is entered.
        Assert.True(keyed.GetProperty("speak").GetProperty("scheduledSeconds").GetDouble() > 1.0, "speaks once the key is entered");
        Assert.Equal(JsonValueKind.Null, keyed.GetProperty("speak").GetProperty("lastError").ValueKind);
        Assert.Equal(0, keyed.GetProperty("storage").GetProperty("localKeys").GetInt32());
        Assert.False(string.IsNullOrEmpty(keyed.GetProperty("storage").GetProperty("session").GetString()));
    }

    private static async Task<string> ServerMessageAsync(HttpClient client, object request)
    {
        using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech/stream/pcm", UriKind.Relative), request);
        Assert.False(response.IsSuccessStatusCode);
        var envelope = await response.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope);
        return envelope!.Error.Message;
    }

    private async Task<JsonElement> ReportAsync()
    {
        await ReportGate.WaitAsync();
        try
        {
            return s_report ??= await RunBrowserAsync();
        }
        finally
        {
            ReportGate.Release();
        }
    }

    private async Task<JsonElement> RunBrowserAsync()
    {
        Assert.True(File.Exists(NodeScripts.Chromium), $"{NodeScripts.Chromium} is missing: apt-get install -y chromium");
        var key = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        await using var keyed = await MeshFleet.StartGatewayAsync(
            fleet.Backends.Select(b => b.Url), "--Mesh:Auth:Keys:0:Name=playground", $"--Mesh:Auth:Keys:0:Sha256={ApiKeyStore.HashOf(key)}");
        await keyed.WaitReadyAsync(TimeSpan.FromSeconds(30));

        var artifacts = NodeScripts.ArtifactsFolder("playground");
        var started = DateTime.UtcNow;
        var report = await NodeScripts.RunAsync(
            "playground.mjs",
            ["--url", fleet.Gateway.Url.ToString(), "--out", artifacts, "--keyed-url", keyed.Url.ToString(), "--key", key],
            TimeSpan.FromSeconds(90));
        output.WriteLine($"browser session: {(DateTime.UtcNow - started).TotalSeconds:0.0} s, artifacts in {artifacts}");
        return report;
    }
}
