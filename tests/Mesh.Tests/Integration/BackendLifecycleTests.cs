using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Mesh.Contracts;

namespace Mesh.Tests.Integration;

/// <summary>Model lifecycle and deadlines of a real backend process, configured through the engine's environment names.</summary>
public sealed class BackendLifecycleTests
{
    private static readonly object Request = new { model = "tts-1", voice = "alloy", input = "Hello.", response_format = "pcm" };

    [Fact]
    public async Task No_audio_within_REQUEST_TIMEOUT_SECONDS_is_a_504()
    {
        await using var backend = await StartAsync(new() { ["REQUEST_TIMEOUT_SECONDS"] = "1" }, "--Faults:SentenceDelayMs=5000");
        using var client = new HttpClient { BaseAddress = backend.Url };

        var stopwatch = Stopwatch.StartNew();
        using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), Request);

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.InRange(stopwatch.Elapsed.TotalSeconds, 0.9, 3.0);
        Assert.Equal("timeout", (await response.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope))!.Error.Code);
    }

    [Fact]
    public async Task An_idle_model_is_unloaded_stays_ready_and_reloads_on_demand()
    {
        await using var backend = await StartAsync(new() { ["IDLE_UNLOAD_SECONDS"] = "1" });
        using var client = new HttpClient { BaseAddress = backend.Url };

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!backend.Output.Contains("unloaded after", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }

        Assert.Contains("unloaded after 1 s idle", backend.Output, StringComparison.Ordinal);
        Assert.Equal("\"unloaded\"", await ReadinessAsync(client, HttpStatusCode.OK));
        using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), Request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True((await response.Content.ReadAsByteArrayAsync()).Length > 1000);
    }

    [Fact]
    public async Task Without_PRELOAD_MODEL_the_first_request_loads_the_model()
    {
        await using var backend = await StartAsync(new() { ["PRELOAD_MODEL"] = "false" });
        using var client = new HttpClient { BaseAddress = backend.Url };

        Assert.DoesNotContain("warmed up", backend.Output, StringComparison.Ordinal);
        using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), Request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("warmed up", backend.Output, StringComparison.Ordinal);
        Assert.Equal("\"ready\"", await ReadinessAsync(client, HttpStatusCode.OK));
    }

    [Fact]
    public async Task A_model_that_fails_to_load_is_never_ready_and_says_why()
    {
        await using var backend = await HostProcess.StartAsync(
            RepoPaths.BackendDll, [], new Dictionary<string, string> { ["MODEL"] = "/nonexistent/model" });
        using var client = new HttpClient { BaseAddress = backend.Url };
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!backend.Output.Contains("will not become ready", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        var reason = await ReadinessAsync(client, HttpStatusCode.ServiceUnavailable);
        Assert.Contains("/nonexistent/model", reason, StringComparison.Ordinal);
        using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), Request);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("model_not_ready", (await response.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope))!.Error.Code);
    }

    private static async Task<HostProcess> StartAsync(Dictionary<string, string> environment, params string[] args)
    {
        var backend = await HostProcess.StartAsync(RepoPaths.BackendDll, args, environment);
        await backend.WaitReadyAsync(TimeSpan.FromSeconds(60));
        return backend;
    }

    private static async Task<string> ReadinessAsync(HttpClient client, HttpStatusCode expected)
    {
        using var response = await client.GetAsync(new Uri("/readyz", UriKind.Relative));
        Assert.Equal(expected, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }
}
