using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using Xunit.Abstractions;

namespace Mesh.Tests.Integration;

/// <summary>
/// A client that stops reading but stays connected, against a real backend and gateway whose stall timeout is 2 s and
/// whose admission admits one request at a time: the stream is ended, counted and logged, its slots are freed and the
/// next request is served, while a client that reads slowly but steadily gets its whole stream.
/// </summary>
public sealed class StalledStreamTests(StalledStreamTests.StallFleet fleet, ITestOutputHelper output) : IClassFixture<StalledStreamTests.StallFleet>
{
    private const string Stalled = "mesh_tts_stalled_streams_total{";
    private const string Requests = "mesh_requests_total{";
    private const string ClientClosed = "code=\"499\"";
    private static readonly string LongText = SlowReaderTests.CorpusText(4096);

    // Generous for two shared cores: the stall is seen 2 s after the buffers fill, which takes about a second.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_stream_whose_client_reads_nothing_is_ended_and_its_slot_freed()
    {
        using var client = new HttpClient { BaseAddress = fleet.Backend.Url };
        var before = await BackendSumAsync(Stalled);
        using var response = await PostAsync(client, LongText, "audio");
        var requestId = response.Headers.GetValues("X-Request-Id").Single();

        await Eventually.UntilAsync(async () => await BackendSumAsync(Stalled) > before, "the backend did not end the stalled stream", Bound);

        await Assert.ThrowsAnyAsync<Exception>(() => ReadToEndAsync(response, TimeSpan.Zero));
        await AssertBackendIdleAsync();
        Assert.Single(fleet.Backend.Output.Split('\n'), line => line.Contains(requestId, StringComparison.Ordinal) && line.Contains("took none of the stream", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_websocket_request_whose_client_reads_nothing_is_ended_and_its_slot_freed()
    {
        var before = await BackendSumAsync(Stalled);
        var requestsBefore = await BackendSumAsync(Requests);
        var clientClosedBefore = await BackendSumAsync(Requests, ClientClosed);
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{fleet.Backend.Url.Authority}/ws"), CancellationToken.None);
        var request = JsonContent.Create(new { model = "tts-1", voice = "alloy", input = LongText });
        await socket.SendAsync(await request.ReadAsByteArrayAsync(), WebSocketMessageType.Text, true, CancellationToken.None);

        await Eventually.UntilAsync(async () => await BackendSumAsync(Stalled) > before, "the backend did not end the stalled WebSocket request", Bound);
        // Counted once, with the stall, as the gateway counts a client that took none of its answer: gone (499), not
        // the 200 it began as.
        Assert.Equal(clientClosedBefore + 1, await BackendSumAsync(Requests, ClientClosed));
        Assert.Equal(requestsBefore + 1, await BackendSumAsync(Requests));
        await AssertBackendIdleAsync();
    }

    [Theory]
    [InlineData(WebSocketMessageType.Binary)]
    [InlineData(WebSocketMessageType.Text)]
    public async Task A_websocket_client_that_sends_bad_messages_and_reads_nothing_is_disconnected(WebSocketMessageType type)
    {
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{fleet.Backend.Url.Authority}/ws"), CancellationToken.None);

        // Each message, binary or text that is not JSON, is answered with an error event. Once the unread events fill the buffers, the backend's
        // next one makes no progress, and the stall timeout must end the connection, which fails the client's sends.
        using var bound = new CancellationTokenSource(Bound);
        var sent = 0;
        var failure = await Record.ExceptionAsync(async () =>
        {
            while (true)
            {
                await socket.SendAsync("{"u8.ToArray(), type, true, bound.Token);
                sent++;
            }
        });

        Assert.False(bound.IsCancellationRequested, $"the backend still held the connection after {Bound} and {sent} messages");
        Assert.True(failure is WebSocketException or IOException, $"the sends ended with {failure}");
        await AssertBackendIdleAsync();
    }

    [Fact]
    public async Task A_stalled_reader_through_the_gateway_frees_the_gateway_slot()
    {
        using var client = new HttpClient { BaseAddress = fleet.Gateway.Url };
        var before = await SlowReaderTests.MetricSumAsync(fleet.Gateway, "mesh_stalled_streams_total{");
        var failures = await SlowReaderTests.MetricSumAsync(fleet.Gateway, "mesh_stream_failures_total{");
        using (await PostAsync(client, LongText, "sse"))
        {
            await AssertGatewayServesNextAsync();
        }

        Assert.True(await SlowReaderTests.MetricSumAsync(fleet.Gateway, "mesh_stalled_streams_total{") > before);
        // The client stopped reading; the backend did not fail.
        Assert.Equal(failures, await SlowReaderTests.MetricSumAsync(fleet.Gateway, "mesh_stream_failures_total{"));
    }

    [Fact]
    public async Task A_websocket_client_through_the_gateway_that_reads_nothing_frees_the_gateway_slot()
    {
        var before = await SlowReaderTests.MetricSumAsync(fleet.Gateway, "mesh_stalled_streams_total{");
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{fleet.Gateway.Url.Authority}/ws"), CancellationToken.None);
        var request = JsonContent.Create(new { model = "tts-1", voice = "alloy", input = LongText });
        await socket.SendAsync(await request.ReadAsByteArrayAsync(), WebSocketMessageType.Text, true, CancellationToken.None);

        // Counted first: a next request sent at once could pass the stalled one on its way to admission.
        await Eventually.UntilAsync(
            async () => await SlowReaderTests.MetricSumAsync(fleet.Gateway, "mesh_stalled_streams_total{") > before,
            "the gateway did not end the stalled WebSocket",
            Bound);
        await AssertGatewayServesNextAsync();
    }

    [Fact]
    public async Task A_slow_but_steady_reader_gets_its_whole_stream()
    {
        var text = SlowReaderTests.CorpusText(400);
        using var client = new HttpClient { BaseAddress = fleet.Gateway.Url };
        long unhurried;
        using (var response = await PostAsync(client, text, "audio"))
        {
            unhurried = await ReadToEndAsync(response, TimeSpan.Zero);
        }

        var before = await BackendSumAsync(Stalled);
        var started = DateTime.UtcNow;
        using var slow = new HttpClient { BaseAddress = fleet.Gateway.Url };
        // 128 KiB/s: slower than the stream is made, so every write waits for the reader, but steady. At 32 KiB per
        // 500 ms the gateway's 2 s stall guard cut this reader in about half the runs: the socket may take more only once
        // the reader has freed a loopback segment (64 KiB), about once a second at that pace.
        var read = await ReadToEndAsync(await PostAsync(slow, text, "audio"), TimeSpan.FromMilliseconds(250));

        output.WriteLine($"{read} bytes read in {(DateTime.UtcNow - started).TotalSeconds:0.0} s, 32 KiB per 250 ms; {unhurried} at once");
        Assert.InRange(read, unhurried * 0.995, unhurried * 1.005);
        Assert.Equal(before, await BackendSumAsync(Stalled));
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, string text, string streamFormat)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech")
        {
            Content = JsonContent.Create(new { model = "tts-1", voice = "alloy", input = text, response_format = "pcm", stream_format = streamFormat }),
        };
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response;
    }

    /// <summary>Reads the body to its end, 32 KiB at a time with <paramref name="pause"/> between reads; a cut transfer throws.</summary>
    private static async Task<long> ReadToEndAsync(HttpResponseMessage response, TimeSpan pause)
    {
        using (response)
        {
            await using var body = await response.Content.ReadAsStreamAsync();
            var buffer = new byte[32 * 1024];
            long total = 0;
            int read;
            while ((read = await body.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false)) > 0)
            {
                total += read;
                await Task.Delay(pause);
            }

            return total;
        }
    }

    /// <summary>The backend's queue is empty, it reports no load, and (admitting one realtime request) it serves the next.</summary>
    private async Task AssertBackendIdleAsync()
    {
        using var client = new HttpClient { BaseAddress = fleet.Backend.Url };
        await Eventually.UntilAsync(
            async () =>
            {
                using var health = await client.GetAsync(new Uri("/healthz", UriKind.Relative));
                return health.Headers.GetValues("X-Mesh-Load").Single() == "0";
            },
            "the backend still reports load",
            Bound);
        Assert.Equal(0, await BackendSumAsync("mesh_queue_depth{"));
        using var next = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), new { model = "tts-1", voice = "alloy", input = "Next.", response_format = "wav" });
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
    }

    /// <summary>The gateway admits one request at a time: the next one is served only once the stalled one is ended.</summary>
    private async Task AssertGatewayServesNextAsync()
    {
        using var client = new HttpClient { BaseAddress = fleet.Gateway.Url };
        await Eventually.UntilAsync(
            async () =>
            {
                using var next = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), new { model = "tts-1", voice = "alloy", input = "Next.", response_format = "wav" });
                return next.StatusCode == HttpStatusCode.OK;
            },
            "the gateway did not free the stalled request's slot",
            Bound);
    }

    private Task<double> BackendSumAsync(string prefix, string label = "") => SlowReaderTests.MetricSumAsync(fleet.Backend, prefix, label);

    /// <summary>A stall timeout of 2 s on both hosts, and one request admitted at a time on each.</summary>
    public sealed class StallFleet()
        : SoloFleet(
            ["--Streaming:StallTimeoutSeconds=2", "--Pipeline:MaxActiveRealtime=1"],
            ["--Mesh:Streaming:StallTimeoutSeconds=2", "--Mesh:Admission:TotalConcurrency=1", "--Mesh:Admission:RealtimeReserved=0"]);
}
