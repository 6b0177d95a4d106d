using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mesh.Contracts;
using Mesh.Tests.Integration;
using Microsoft.AspNetCore.Http;

namespace Mesh.Tests.Reliability;

/// <summary>
/// A synthesis that fails after its stream's first byte (<c>Faults:FailureRatio</c>, per sentence, so a request fails
/// before its first audio, part way through, or not at all), through a real gateway in front of a real backend: each
/// request is counted once, by the same status at both, and a stream's failure counts toward its backend's ejection.
/// </summary>
public sealed class MidStreamFailureTests
{
    private const string ThreeSentences = "One sentence. Two sentences. Three sentences.";
    private const int MaxRequests = 40;

    [Theory]
    [InlineData("sse")]
    [InlineData("openai-sse")]
    [InlineData("pcm")]
    public async Task A_synthesis_failing_mid_stream_counts_by_one_status_at_the_gateway_and_the_backend(string surface)
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test", "--Faults:FailureRatio=0.3");
        // Most requests fail: an ejected backend would turn the next ones into the gateway's own 503s.
        await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url], "--Mesh:Health:ConsecutiveFailures=1000");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };

        var expected = new Dictionary<int, int>();
        var midStream = 0;
        for (var sent = 1; sent <= MaxRequests && midStream == 0; sent++)
        {
            var outcome = await SendAsync(client, surface);
            expected[outcome.Status] = expected.GetValueOrDefault(outcome.Status) + 1;
            midStream += outcome.FailedMidStream ? 1 : 0;
        }

        Assert.True(midStream > 0, $"none of {MaxRequests} streams failed after its first audio");
        var requests = expected.Values.Sum();
        // Each side counts a request as it is done with it, a moment after its client saw the end.
        await Eventually.UntilAsync(
            async () => await RequestsAsync(gateway) == requests && await RequestsAsync(backend) == requests,
            $"the gateway and the backend did not each count {requests} requests");
        var gatewayMetrics = await MetricsAsync(gateway);
        var backendMetrics = await MetricsAsync(backend);
        foreach (var (status, count) in expected)
        {
            var code = $"code=\"{status}\"";
            Assert.True(count == MetricsText.Sum(gatewayMetrics, "mesh_requests_total{", code), $"gateway {code}: {gatewayMetrics}");
            Assert.True(count == MetricsText.Sum(backendMetrics, "mesh_requests_total{", code), $"backend {code}: {backendMetrics}");
        }

        var streamFailures = $"mesh_stream_failures_total{{variant=\"test\",pool=\"shared\",surface=\"{(surface == "pcm" ? "audio" : "sse")}\"}} {midStream}";
        Assert.Contains(streamFailures, gatewayMetrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_backend_whose_sse_stream_fails_mid_stream_is_ejected_as_for_a_500_answer()
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test", "--Faults:FailureRatio=0.3");
        const int ReactivationSeconds = 1;
        await using var gateway = await MeshFleet.StartGatewayAsync(
            [backend.Url], "--Mesh:Health:ConsecutiveFailures=1", $"--Mesh:Health:ReactivationSeconds={ReactivationSeconds}");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };

        for (var sent = 1; sent <= MaxRequests; sent++)
        {
            var ejectionsBefore = MetricsText.Sum(await MetricsAsync(gateway), "mesh_backend_ejections_total{");
            var outcome = await SendAsync(client, "sse");
            if (outcome.FailedMidStream)
            {
                // YARP runs the passive policy once the response is complete, a moment after its client saw the end.
                await Eventually.UntilAsync(
                    async () => MetricsText.Sum(await MetricsAsync(gateway), "mesh_backend_ejections_total{") == ejectionsBefore + 1,
                    "the stream's failure did not eject its backend");
                return;
            }

            if (outcome.Status != StatusCodes.Status200OK)
            {
                // A failure before the first byte ejected the backend: the next request waits for its return.
                await Task.Delay(TimeSpan.FromSeconds(ReactivationSeconds + 1));
            }
        }

        Assert.Fail($"none of {MaxRequests} streams failed after its first audio");
    }

    /// <summary>
    /// Sends one request and reads its answer to the end: its status as its client saw it (an SSE stream's <c>error</c>
    /// event's, 502 for an audio stream cut after its status line) and whether it failed after its first byte.
    /// </summary>
    private static async Task<(int Status, bool FailedMidStream)> SendAsync(HttpClient client, string surface)
    {
        var (path, body) = surface switch
        {
            "sse" => ("/v1/audio/speech/stream", (object)new { voice = "alloy", input = ThreeSentences }),
            "openai-sse" => ("/v1/audio/speech", new { model = "tts-1", voice = "alloy", input = ThreeSentences, response_format = "pcm", stream_format = "sse" }),
            _ => ("/v1/audio/speech/stream/pcm", new { voice = "alloy", input = ThreeSentences }),
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return ((int)response.StatusCode, false);
        }

        if (surface == "pcm")
        {
            // A cut chunked transfer surfaces as an error, never as a clean end of the body.
            var cut = await Record.ExceptionAsync(() => response.Content.ReadAsByteArrayAsync());
            Assert.True(cut is null or IOException or HttpRequestException, $"the audio ended with {cut}");
            return cut is null ? (StatusCodes.Status200OK, false) : (StatusCodes.Status502BadGateway, true);
        }

        JsonElement? last = null;
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                using var document = JsonDocument.Parse(line["data: ".Length..]);
                last = document.RootElement.Clone();
            }
        }

        Assert.NotNull(last);
        return last.Value.GetProperty("type").GetString() == StreamEvent.Failure
            ? (last.Value.GetProperty("status").GetInt32(), true)
            : (StatusCodes.Status200OK, false);
    }

    private static async Task<double> RequestsAsync(HostProcess process) => MetricsText.Sum(await MetricsAsync(process), "mesh_requests_total{");

    private static async Task<string> MetricsAsync(HostProcess process)
    {
        using var client = new HttpClient { BaseAddress = process.Url };
        return await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
    }
}
