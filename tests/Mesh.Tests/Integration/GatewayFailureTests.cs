using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Mesh.Contracts;

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
