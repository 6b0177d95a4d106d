using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Mesh.Contracts;
using Mesh.Gateway.Routing;

namespace Mesh.Tests.Integration;

public sealed class GatewayFailureTests
{
    [Fact]
    public async Task No_healthy_backend_is_a_fast_503_with_retry_after_and_the_envelope()
    {
        using var dead = new ClosedPort();
        await using var gateway = await MeshFleet.StartGatewayAsync([dead.Url]);
        using var client = new HttpClient { BaseAddress = gateway.Url };
        // The first active probe marks the backend down, when the gateway gets to it: a loaded machine delays it.
        await GatewayProbes.UntilEveryBackendReadsAsync(client, "mesh_backend_healthy", 0, backends: 1);
        var speech = new Uri("/v1/audio/speech", UriKind.Relative);
        var request = new { model = "tts-1", voice = "alloy", input = "Hello." };
        // The first refusal also pays the one-time compilation of the error path; the second is timed.
        (await client.PostAsJsonAsync(speech, request)).Dispose();

        var stopwatch = Stopwatch.StartNew();
        using var response = await client.PostAsJsonAsync(speech, request);
        stopwatch.Stop();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        var envelope = await response.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope);
        Assert.Equal("no_healthy_backend", envelope!.Error.Code);
        // At once, not after holding the request for a backend to come back: that would take the batch queue's 30 s. The
        // bound leaves a loaded machine's round trip to another process its margin.
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(3), $"took {stopwatch.ElapsedMilliseconds} ms");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync(new Uri("/readyz", UriKind.Relative))).StatusCode);
    }

    /// <remarks>
    /// YARP's own warning for each failed probe carries the exception's stack trace, some 30 lines every 2 s: a
    /// crash-looping backend buried the rest of the log under them.
    /// </remarks>
    [Fact]
    public async Task A_backend_that_refuses_connections_is_logged_not_ready_once_with_the_reason_and_no_stack_trace()
    {
        using var dead = new ClosedPort();
        await using var gateway = await MeshFleet.StartGatewayAsync([dead.Url]);
        const string NotReady = "is not ready (";
        var lines = await LinesAfterTwoMoreProbesAsync(gateway, NotReady);

        var logged = Assert.Single(lines, line => line.Contains(NotReady, StringComparison.Ordinal));
        Assert.Contains($"Connection refused (127.0.0.1:{dead.Port})", logged, StringComparison.Ordinal);
        Assert.DoesNotContain(lines, line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal));
        // Never seen ready, it is no warning: a backend starting, or loading its model, is not news.
        Assert.DoesNotContain("failed its readiness probe", gateway.Output, StringComparison.Ordinal);
    }

    /// <summary>A backend that served and then stops answering its probes is a warning, once, with the reason.</summary>
    [Fact]
    public async Task A_backend_that_was_ready_and_stops_is_logged_at_warning_once()
    {
        var backend = await MeshFleet.StartBackendAsync("b0", "test");
        await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url]);
        await backend.DisposeAsync();
        const string Unhealthy = "failed its readiness probe";
        var lines = await LinesAfterTwoMoreProbesAsync(gateway, Unhealthy);

        var at = Array.FindIndex(lines, line => line.Contains(Unhealthy, StringComparison.Ordinal));
        Assert.Single(lines, line => line.Contains(Unhealthy, StringComparison.Ordinal));
        Assert.StartsWith("warn: ", lines[at - 1], StringComparison.Ordinal);
        Assert.DoesNotContain("is not ready (", gateway.Output, StringComparison.Ordinal);
    }

    /// <summary>The gateway's output lines once it has logged <paramref name="text"/> and two more probes have failed.</summary>
    private static async Task<string[]> LinesAfterTwoMoreProbesAsync(HostProcess gateway, string text)
    {
        await Eventually.UntilAsync(
            () => Task.FromResult(gateway.Output.Contains(text, StringComparison.Ordinal)), $"the gateway did not log '{text}'");
        await Task.Delay(FleetProxyConfigProvider.ProbeInterval * 2.5);
        return gateway.Output.Split('\n');
    }

    [Fact]
    public async Task Unknown_paths_get_a_404_envelope()
    {
        using var dead = new ClosedPort();
        await using var gateway = await MeshFleet.StartGatewayAsync([dead.Url]);
        using var client = new HttpClient { BaseAddress = gateway.Url };

        using var response = await client.GetAsync(new Uri("/admin/anything", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var envelope = await response.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope);
        Assert.Equal("unknown_url", envelope!.Error.Code);
    }
}
