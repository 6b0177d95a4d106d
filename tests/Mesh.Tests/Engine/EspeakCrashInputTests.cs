using System.Net;
using System.Net.Http.Json;
using Mesh.Tests.Integration;

namespace Mesh.Tests.Engine;

/// <summary>
/// Inputs that abort libespeak-ng 1.51, and with it the backend process, when they reach it unguarded: a real backend
/// speaks each and serves the next request.
/// </summary>
[Collection(GeneratedModelsDefinition.Name)]
public sealed class EspeakCrashInputTests(GeneratedModels models)
{
    // 67 stacked 's overflow the suffix buffer (buffer overflow detected); the word as first seen had 220 s'.
    private static readonly string StackedSuffixes = string.Concat(Enumerable.Repeat("s'", 220));

    public static TheoryData<string, string> EspeakCases => new()
    {
        { "alloy", StackedSuffixes },
        { "en-gb", "x" + string.Concat(Enumerable.Repeat("'s", 67)) },
        { "en-us", "It's " + StackedSuffixes + " said." },

        // A lone symbol, stack smashing detected in ten voices, buffer overflow in three.
        { "am", "ⓜ" },
        { "ar", "⣿" },
        { "fi", "Merkki ⣿ on pistekirjoitusta." },
    };

    [Theory]
    [MemberData(nameof(EspeakCases))]
    public async Task The_espeak_voice_speaks_an_input_that_crashes_libespeak_ng_and_serves_on(string voice, string input)
    {
        await using var backend = await HostProcess.StartAsync(RepoPaths.BackendDll, [], readyTimeout: TimeSpan.FromSeconds(60));
        using var client = new HttpClient { BaseAddress = backend.Url, Timeout = TimeSpan.FromSeconds(60) };

        await AssertSpokenAsync(client, "espeak", voice, input);
        await AssertSpokenAsync(client, "espeak", voice, "Hello.");
        Assert.False(backend.HasExited);
    }

    /// <remarks>The Piper front end phonemizes with the same library: the crash reaches it through espeak_TextToPhonemes.</remarks>
    [Fact]
    public async Task A_Piper_model_speaks_an_input_that_crashes_libespeak_ng_and_serves_on()
    {
        await using var backend = await HostProcess.StartAsync(
            RepoPaths.BackendDll,
            [],
            new Dictionary<string, string> { ["MODEL"] = models.PiperTiny, ["EXECUTION_PROVIDER"] = "cpu" },
            TimeSpan.FromSeconds(60));
        using var client = new HttpClient { BaseAddress = backend.Url, Timeout = TimeSpan.FromSeconds(60) };
        var model = Path.GetFileName(models.PiperTiny);

        await AssertSpokenAsync(client, model, "tiny_a", StackedSuffixes);
        await AssertSpokenAsync(client, model, "tiny_a", "Hello.");
        Assert.False(backend.HasExited);
    }

    private static async Task AssertSpokenAsync(HttpClient client, string model, string voice, string input)
    {
        using var response = await client.PostAsJsonAsync(
            new Uri("/v1/audio/speech", UriKind.Relative),
            new Dictionary<string, string> { ["model"] = model, ["voice"] = voice, ["input"] = input, ["response_format"] = "pcm" });
        var pcm = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(pcm.Length > 2000, $"only {pcm.Length} bytes of audio for {voice}");
    }
}
