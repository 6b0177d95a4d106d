using System.Net;
using System.Net.Http.Json;
using Mesh.Gateway.Streaming;

namespace Mesh.Tests.Integration;

/// <summary>
/// Clients that stop reading at once, through a real gateway whose stall timeout is 2 s: each stall is logged by the
/// gateway once, and the proxy adds no error of its own.
/// </summary>
public sealed class StalledStreamLogTests(StalledStreamLogTests.StallFleet fleet) : IClassFixture<StalledStreamLogTests.StallFleet>
{
    private const int Clients = 6;
    private static readonly string[] Formats = ["aac", "wav", "mp3"];
    private static readonly string LongText = SlowReaderTests.CorpusText(4000);

    // Generous for two shared cores: the stalls are seen 2 s after the buffers fill.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Each_stalled_client_is_logged_once_without_a_forwarding_error()
    {
        // A small receive window, so that the stall comes while the gateway writes rather than in the kernel's buffers;
        // several stalls at once on a busy gateway made the proxy take most of them for client errors.
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = (context, cancellationToken) => BackendHttpClientFactory.ConnectAsync(context.DnsEndPoint, 4096, cancellationToken),
            MaxConnectionsPerServer = Clients,
        };
        using var client = new HttpClient(handler) { BaseAddress = fleet.Gateway.Url };
        var before = await StalledAsync();

        var responses = await Task.WhenAll(Enumerable.Range(0, Clients).Select(i => PostAsync(client, Formats[i % Formats.Length])));
        try
        {
            await Eventually.UntilAsync(async () => await StalledAsync() >= before + Clients, "the gateway did not end every stalled stream", Bound);
        }
        finally
        {
            Array.ForEach(responses, response => response.Dispose());
        }

        // The gateway counts a stall before it logs it, and its output reaches the test later still.
        var requestIds = responses.Select(response => response.Headers.GetValues("X-Request-Id").Single()).ToList();
        int Logged(string requestId) => fleet.Gateway.Output.Split('\n').Count(
            line => line.Contains(requestId, StringComparison.Ordinal) && line.Contains("took none of the stream", StringComparison.Ordinal));
        await Eventually.UntilAsync(() => Task.FromResult(requestIds.All(id => Logged(id) >= 1)), "a stalled client was not logged", Bound);

        Assert.All(requestIds, requestId => Assert.Equal(1, Logged(requestId)));
        Assert.DoesNotContain(fleet.Gateway.Output.Split('\n'), line => line.Contains("Yarp.ReverseProxy.Forwarder.HttpForwarder", StringComparison.Ordinal));
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, string format)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech")
        {
            Content = JsonContent.Create(new { model = "tts-1", voice = "alloy", input = LongText, response_format = format, stream_format = "audio" }),
        };
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response;
    }

    private Task<double> StalledAsync() => SlowReaderTests.MetricSumAsync(fleet.Gateway, "mesh_stalled_streams_total{");

    /// <summary>A stall timeout of 2 s, and room for every client at once.</summary>
    public sealed class StallFleet()
        : SoloFleet(["--Mesh:Streaming:StallTimeoutSeconds=2", $"--Mesh:Admission:TotalConcurrency={Clients}", "--Mesh:Admission:RealtimeReserved=0"]);
}
