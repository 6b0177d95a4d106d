using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mesh.Contracts;
using Mesh.Tests.Integration;

namespace Mesh.Tests.Backend;

/// <summary><c>GET /v1/models</c>, <c>GET /v1/audio/voices</c> and the request counts of a real backend process whose model is not loaded.</summary>
public sealed class BackendCatalogTests
{
    [Fact]
    public async Task After_an_idle_unload_the_catalogue_still_lists_the_model_and_its_voices()
    {
        var started = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        await using var backend = await HostProcess.StartAsync(RepoPaths.BackendDll, [], new Dictionary<string, string> { ["IDLE_UNLOAD_SECONDS"] = "1" });
        await backend.WaitReadyAsync(TimeSpan.FromSeconds(60));
        using var client = new HttpClient { BaseAddress = backend.Url };
        var created = await AssertListsEspeakAsync(client);
        Assert.InRange(created, started, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!backend.Output.Contains("unloaded after", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.Contains("unloaded after", backend.Output, StringComparison.Ordinal);
        Assert.Equal(created, await AssertListsEspeakAsync(client));

        // Listing is no request for audio: the model stays unloaded.
        Assert.Equal("unloaded", await client.GetStringAsync(new Uri("/readyz", UriKind.Relative)));

        // A request refused meanwhile is counted under the model the backend serves, not as model="none".
        using var refused = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), new { model = "tts-1", voice = "alloy", input = "Hi.", speed = 9 });
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Contains(metrics.Split('\n'), line => line.StartsWith("mesh_requests_total{", StringComparison.Ordinal) && line.Contains("model=\"espeak\"", StringComparison.Ordinal) && line.Contains("code=\"400\"", StringComparison.Ordinal));

        // Speech reloads the model, a second or more after the first load; the catalogue still says when that was.
        using var spoken = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), new { model = "tts-1", voice = "alloy", input = "Hi.", response_format = "pcm" });
        Assert.Equal(HttpStatusCode.OK, spoken.StatusCode);
        Assert.Equal(created, await AssertListsEspeakAsync(client));
    }

    [Fact]
    public async Task Without_PRELOAD_MODEL_the_catalogue_lists_the_model_before_any_speech()
    {
        await using var backend = await HostProcess.StartAsync(RepoPaths.BackendDll, [], new Dictionary<string, string> { ["PRELOAD_MODEL"] = "false" });
        await backend.WaitReadyAsync(TimeSpan.FromSeconds(60));
        using var client = new HttpClient { BaseAddress = backend.Url };

        await AssertListsEspeakAsync(client);
    }

    /// <remarks>
    /// An empty list, or a 404 for the model's id, is an answer SDKs do not retry; the 503 with its <c>Retry-After</c>
    /// is the one speech gets meanwhile. A gateway whose backends all load says no backend is ready, as for speech.
    /// </remarks>
    [Fact]
    public async Task While_the_model_loads_at_start_the_catalogue_answers_503_model_not_ready_not_an_empty_list()
    {
        await using var backend = await HostProcess.StartAsync(RepoPaths.BackendDll, ["--Faults:StartupDelayMs=600000"]);
        await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url]);
        using var client = new HttpClient { BaseAddress = backend.Url };
        using var throughGateway = new HttpClient { BaseAddress = gateway.Url };

        foreach (var path in new[] { "/v1/models", "/v1/models/tts-1", "/v1/audio/voices" })
        {
            await AssertUnavailableAsync(client, path, "model_not_ready");
            await AssertUnavailableAsync(throughGateway, path, "no_healthy_backend");
        }
    }

    private static async Task AssertUnavailableAsync(HttpClient client, string path, string code)
    {
        using var response = await client.GetAsync(new Uri(path, UriKind.Relative));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal(code, (await response.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope))!.Error.Code);
    }

    /// <summary>Checks the catalogue lists espeak under its aliases, and returns the <c>created</c> they share.</summary>
    private static async Task<long> AssertListsEspeakAsync(HttpClient client)
    {
        using var models = await client.GetAsync(new Uri("/v1/models", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, models.StatusCode);
        var modelList = await models.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ModelList);
        Assert.Equal(["espeak", "gpt-4o-mini-tts", "tts-1", "tts-1-hd"], modelList!.Data.Select(m => m.Id));
        Assert.All(modelList.Data, m => Assert.Equal(22050, m.SampleRate));

        var voiceList = await client.GetFromJsonAsync(new Uri("/v1/audio/voices", UriKind.Relative), ContractsJsonContext.Default.VoiceList);
        Assert.Contains(voiceList!.Voices, v => v.Id == "alloy" && v.Model == "espeak");

        // OpenAI's Model object states `created` as whole Unix seconds.
        using var listed = JsonDocument.Parse(await models.Content.ReadAsStringAsync());
        var created = listed.RootElement.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("created").GetInt64()).Distinct().Single();
        using var one = JsonDocument.Parse(await client.GetStringAsync(new Uri("/v1/models/tts-1", UriKind.Relative)));
        Assert.Equal(created, one.RootElement.GetProperty("created").GetInt64());
        return created;
    }
}
