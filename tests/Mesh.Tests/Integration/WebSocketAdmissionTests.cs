using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Mesh.Contracts;
using Mesh.Gateway.Auth;

namespace Mesh.Tests.Integration;

/// <summary>
/// Gateway admission of WebSockets, against real gateway and backend processes: a connection holds one of the
/// <c>TotalConcurrency</c> slots only while the backend has a request of it to answer, not while it sits open.
/// </summary>
public sealed class WebSocketAdmissionTests
{
    private const string Realtime = "mesh_requests_total{variant=\"test\",pool=\"shared\",priority=\"realtime\"";
    private static readonly TimeSpan ReceiveTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task An_idle_websocket_takes_no_slot_from_http_requests()
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test");
        await using var gateway = await MeshFleet.StartGatewayAsync(
            [backend.Url],
            "--Mesh:Admission:TotalConcurrency=1",
            "--Mesh:Admission:RealtimeReserved=0",
            "--Mesh:Admission:Batch:QueueTimeoutMs=3000");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var idle = await ConnectAsync(gateway);
        using var client = new HttpClient { BaseAddress = gateway.Url, Timeout = TimeSpan.FromSeconds(60) };

        using var response = await client.PostAsJsonAsync(
            new Uri("/v1/audio/speech", UriKind.Relative), new { model = "tts-1", voice = "alloy", input = "Hi.", response_format = "pcm" });

        // Admitted at once: the open socket holds nothing while it sends nothing.
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("0", response.Headers.GetValues(MeshHeaders.QueueMs).Single());
        Assert.NotEmpty(await response.Content.ReadAsByteArrayAsync());

        // And the socket still serves when it does send.
        await SendAsync(idle, "Still here.");
        Assert.Equal(StreamEvent.Done, (await ReadToEndAsync(idle)).GetProperty("type").GetString());
        await idle.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }

    [Fact]
    public async Task Websocket_requests_without_a_slot_get_429_error_events_each_counted_as_a_request_and_the_upgrade_not()
    {
        // 400 ms per sentence: the busy socket's twelve sentences hold the only slot for seconds.
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test", "--Faults:SentenceDelayMs=400");
        await using var gateway = await MeshFleet.StartGatewayAsync(
            [backend.Url],
            "--Mesh:Admission:TotalConcurrency=1",
            "--Mesh:Admission:RealtimeReserved=0",
            "--Mesh:Admission:Realtime:MaxQueue=0");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var busy = await ConnectAsync(gateway);
        var busyEnd = await OccupyTheOnlySlotAsync(busy);
        using var other = await ConnectAsync(gateway);

        const int Shed = 3;
        for (var i = 0; i < Shed; i++)
        {
            await SendAsync(other, "Too soon.");
            var shed = await WebSocketMessages.ReceiveEventAsync(other, ReceiveTimeout);
            Assert.Equal(StreamEvent.Failure, shed.GetProperty("type").GetString());
            Assert.Equal((int)HttpStatusCode.TooManyRequests, shed.GetProperty("status").GetInt32());
            Assert.Equal(ErrorTypes.RateLimit, shed.GetProperty("error").GetProperty("type").GetString());
            Assert.Equal("queue_full", shed.GetProperty("error").GetProperty("code").GetString());
        }

        Assert.Equal(StreamEvent.Done, (await busyEnd).GetProperty("type").GetString());
        Assert.Equal(WebSocketState.Open, other.State);
        await SendAsync(other, "Now it is my turn.");
        Assert.Equal(StreamEvent.Done, (await ReadToEndAsync(other)).GetProperty("type").GetString());
        await other.SendAsync("{\"voice\":\"alloy\"}"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        Assert.Equal((int)HttpStatusCode.BadRequest, (await ReadToEndAsync(other)).GetProperty("status").GetInt32());
        await busy.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await other.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);

        // Shed per request and requests per request: the shed ratio is 3 of 6, not 3 of 2 upgrades.
        using var client = new HttpClient { BaseAddress = gateway.Url };
        var metrics = await MetricsAsync(client);
        Assert.Equal(
            [$"{Realtime},code=\"200\"}} 2", $"{Realtime},code=\"400\"}} 1", $"{Realtime},code=\"429\"}} {Shed}"],
            RequestsCounted(metrics));
        Assert.Contains($"mesh_shed_total{{reason=\"queue_full\",priority=\"realtime\",variant=\"test\"}} {Shed}", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_websocket_request_is_timed_alone_and_one_its_client_leaves_counts_as_499()
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test", "--Faults:SentenceDelayMs=400");
        await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url]);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };
        using var socket = await ConnectAsync(gateway);

        await SendAsync(socket, "Hi.");
        Assert.Equal(StreamEvent.Done, (await ReadToEndAsync(socket)).GetProperty("type").GetString());
        // The connection idles longer than either request takes: its lifetime is no request's duration.
        await Task.Delay(TimeSpan.FromSeconds(3));
        var left = await OccupyTheOnlySlotAsync(socket);
        // Only the close goes out: the read still pending takes the reply. CloseAsync would issue a read of its own, which
        // the runtime lets race the pending one, and the loser reads the end of the connection as an unfinished handshake.
        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await Assert.ThrowsAnyAsync<Exception>(() => left);

        // Counted once the backend's close has come back through the relay, a moment after the client has it.
        await Eventually.UntilAsync(async () => (await MetricsAsync(client)).Contains("code=\"499\"", StringComparison.Ordinal), "the request left was not counted");
        var metrics = await MetricsAsync(client);
        Assert.Equal([$"{Realtime},code=\"200\"}} 1", $"{Realtime},code=\"499\"}} 1"], RequestsCounted(metrics));
        const string Duration = "mesh_request_duration_seconds_bucket{variant=\"test\",pool=\"shared\",priority=\"realtime\",";
        Assert.Equal(2, MetricsText.Sum(metrics, Duration, "le=\"+Inf\""));
        Assert.Equal(2, MetricsText.Sum(metrics, Duration, "le=\"2.56\""));
    }

    [Fact]
    public async Task An_oversized_websocket_message_counts_as_413_as_at_the_backend()
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test");
        await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url]);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };
        using var socket = await ConnectAsync(gateway);

        await SendAsync(socket, new string('a', SpeechRequestParser.MaxBodyBytes + 1));

        var (type, _) = await WebSocketMessages.ReceiveAsync(socket, ReceiveTimeout);
        Assert.Equal(WebSocketMessageType.Close, type);
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, socket.CloseStatus);
        // The backend's close ends the connection with the request unanswered: the client's fault, not the backend's.
        await Eventually.UntilAsync(async () => RequestsCounted(await MetricsAsync(client)).Length > 0, "the request was not counted");
        Assert.Equal([$"{Realtime},code=\"413\"}} 1"], RequestsCounted(await MetricsAsync(client)));
    }

    /// <remarks>
    /// The client's close passed on to the backend is answered with the backend's close, which may reach the relay before
    /// the client's pump has ended: the request is still the client's to have left, never a backend failure (502).
    /// Forty connections give that race room to show.
    /// </remarks>
    [Fact]
    public async Task A_websocket_request_whose_client_closes_at_once_counts_as_499_or_200_never_502()
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test");
        await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url]);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };

        const int Connections = 40;
        for (var i = 0; i < Connections; i++)
        {
            using var socket = await ConnectAsync(gateway);
            await SendAsync(socket, "The first sentence. The second one. The third.");
            // Under way at the backend: the request is the relay's to count when the connection ends.
            Assert.Equal(StreamEvent.Start, (await WebSocketMessages.ReceiveEventAsync(socket, ReceiveTimeout)).GetProperty("type").GetString());
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            await Task.Delay(TimeSpan.FromMilliseconds(300));
        }

        await Eventually.UntilAsync(
            async () => MetricsText.Sum(await MetricsAsync(client), "mesh_requests_total{") >= Connections, "not every request was counted");
        var metrics = await MetricsAsync(client);
        Assert.Equal(0, MetricsText.Sum(metrics, "mesh_requests_total{", "code=\"502\""));
        Assert.Equal(Connections, MetricsText.Sum(metrics, Realtime, "code=\"499\"") + MetricsText.Sum(metrics, Realtime, "code=\"200\""));
        Assert.Equal(Connections, MetricsText.Sum(metrics, "mesh_requests_total{"));
        Assert.Contains("mesh_stream_failures_total{variant=\"test\",pool=\"shared\",surface=\"websocket\"} 0", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Each_websocket_request_takes_a_token_of_its_api_key()
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test");
        await using var gateway = await MeshFleet.StartGatewayAsync(
            [backend.Url],
            "--Mesh:Auth:Keys:0:Name=limited",
            $"--Mesh:Auth:Keys:0:Sha256={ApiKeyStore.HashOf("sk-limited")}",
            "--Mesh:Auth:Keys:0:RequestsPerSecond=0.001",
            "--Mesh:Auth:Keys:0:Burst=2");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", "Bearer sk-limited");

        // The handshake takes one token of two and the first request the other; the next is over the key's rate.
        await socket.ConnectAsync(new Uri($"ws://{gateway.Url.Authority}/ws"), CancellationToken.None);
        await SendAsync(socket, "Within the limit.");
        Assert.Equal(StreamEvent.Done, (await ReadToEndAsync(socket)).GetProperty("type").GetString());
        await SendAsync(socket, "Over the limit.");
        var limited = await ReadToEndAsync(socket);

        Assert.Equal(StreamEvent.Failure, limited.GetProperty("type").GetString());
        Assert.Equal(ErrorTypes.RateLimit, limited.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal("rate_limit_exceeded", limited.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(WebSocketState.Open, socket.State);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        using var client = new HttpClient { BaseAddress = gateway.Url };
        var metrics = await MetricsAsync(client);
        Assert.Contains("mesh_auth_failures_total{code=\"rate_limit_exceeded\"} 1", metrics, StringComparison.Ordinal);
        // A refusal that never happened reads 0 rather than no data.
        Assert.Contains("mesh_auth_failures_total{code=\"invalid_api_key\"} 0", metrics, StringComparison.Ordinal);
        // Refused for its key as an HTTP request over its rate is, before routing: no pool's traffic, so no route's labels.
        Assert.Equal(
            ["mesh_requests_total{variant=\"none\",pool=\"none\",priority=\"none\",code=\"429\"} 1", $"{Realtime},code=\"200\"}} 1"],
            RequestsCounted(metrics));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_client_that_leaves_while_its_request_waits_for_a_slot_leaves_the_queue_at_once(bool closeFrame)
    {
        // Twelve sentences of a second hold the only slot for twelve: the leaving client queues, closes and is seen to
        // leave well within them, however loaded the machine.
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test", "--Faults:SentenceDelayMs=1000");
        await using var gateway = await StartOneSlotGatewayAsync(backend);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };
        using var busy = await ConnectAsync(gateway);
        var busyEnd = await OccupyTheOnlySlotAsync(busy);
        using var leaving = await ConnectAsync(gateway);

        await QueueBehindTheOnlySlotAsync(leaving, client, "I will not wait.");
        if (closeFrame)
        {
            // An orderly close says the client is gone as plainly as a dropped connection: its close is answered now,
            // not once a slot frees and its request has been sent to a backend for nothing.
            using var closeTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await leaving.CloseAsync(WebSocketCloseStatus.NormalClosure, null, closeTimeout.Token);
        }
        else
        {
            leaving.Abort();
        }

        await Eventually.UntilAsync(async () => (await MetricsAsync(client)).Contains("mesh_queue_depth{priority=\"realtime\"} 0", StringComparison.Ordinal), "the request stayed queued");
        Assert.False(busyEnd.IsCompleted, "the busy request ended before the client was seen to leave");
        Assert.Contains("mesh_shed_total{reason=\"client_gone\",priority=\"realtime\",variant=\"test\"} 1", await MetricsAsync(client), StringComparison.Ordinal);
        Assert.Equal(StreamEvent.Done, (await busyEnd).GetProperty("type").GetString());
        await SendAsync(busy, "The slot is free again.");
        Assert.Equal(StreamEvent.Done, (await ReadToEndAsync(busy)).GetProperty("type").GetString());
    }

    [Fact]
    public async Task A_backend_lost_while_a_websocket_request_waits_for_a_slot_fails_the_request_with_1011()
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test", "--Faults:SentenceDelayMs=400");
        await using var gateway = await StartOneSlotGatewayAsync(backend);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };
        using var busy = await ConnectAsync(gateway);
        var busyEnd = await OccupyTheOnlySlotAsync(busy);
        using var waiting = await ConnectAsync(gateway);
        await QueueBehindTheOnlySlotAsync(waiting, client, "Waiting for the slot.");

        await backend.KillAsync();

        // The waiting request is lost as much as the one in flight: neither client is told to just reconnect (1001).
        var (closing, _) = await WebSocketMessages.ReceiveAsync(waiting, ReceiveTimeout);
        Assert.Equal(WebSocketMessageType.Close, closing);
        Assert.Equal(WebSocketCloseStatus.InternalServerError, waiting.CloseStatus);
        await Assert.ThrowsAsync<WebSocketException>(() => busyEnd);
        Assert.Equal(WebSocketCloseStatus.InternalServerError, busy.CloseStatus);
        await waiting.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await busy.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        Assert.Contains("mesh_stream_failures_total{variant=\"test\",pool=\"shared\",surface=\"websocket\"} 2", await MetricsAsync(client), StringComparison.Ordinal);
        await Eventually.UntilAsync(
            async () => MetricsText.Sum(await MetricsAsync(client), Realtime, "code=\"502\"") == 2,
            "the two requests were not counted as 502");
        Assert.Equal(2, MetricsText.Sum(await MetricsAsync(client), "mesh_requests_total{"));
    }

    private static async Task<ClientWebSocket> ConnectAsync(HostProcess gateway)
    {
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{gateway.Url.Authority}/ws"), CancellationToken.None);
        return socket;
    }

    /// <summary>
    /// Sends twelve sentences and waits for their <c>start</c>: on a gateway of one slot they hold it for twelve times the
    /// backend's sentence delay (about five seconds at 400 ms). The task returned ends with their terminal event.
    /// </summary>
    private static async Task<Task<JsonElement>> OccupyTheOnlySlotAsync(ClientWebSocket socket)
    {
        await SendAsync(socket, string.Join(' ', Enumerable.Range(1, 12).Select(i => $"Sentence number {i}.")));
        Assert.Equal(StreamEvent.Start, (await WebSocketMessages.ReceiveEventAsync(socket, ReceiveTimeout)).GetProperty("type").GetString());
        return ReadToEndAsync(socket);
    }

    /// <summary>A gateway of one slot, for which a realtime request waits up to a minute.</summary>
    private static Task<HostProcess> StartOneSlotGatewayAsync(HostProcess backend) => MeshFleet.StartGatewayAsync(
        [backend.Url],
        "--Mesh:Admission:TotalConcurrency=1",
        "--Mesh:Admission:RealtimeReserved=0",
        "--Mesh:Admission:Realtime:QueueTimeoutMs=60000");

    /// <summary>Sends a request while another holds the only slot, and returns once it waits in the queue.</summary>
    private static async Task QueueBehindTheOnlySlotAsync(ClientWebSocket socket, HttpClient client, string input)
    {
        await SendAsync(socket, input);
        await Eventually.UntilAsync(async () => (await MetricsAsync(client)).Contains("mesh_queue_depth{priority=\"realtime\"} 1", StringComparison.Ordinal), "the request never queued");
    }

    /// <summary>The gateway's <c>mesh_requests_total</c> samples, labels and value, in order.</summary>
    private static string[] RequestsCounted(string metrics) =>
        [.. metrics.Split('\n').Where(line => line.StartsWith("mesh_requests_total{", StringComparison.Ordinal)).Order(StringComparer.Ordinal)];

    private static Task<string> MetricsAsync(HttpClient client) => client.GetStringAsync(new Uri("/metrics", UriKind.Relative));

    private static Task SendAsync(ClientWebSocket socket, string input) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { voice = "alloy", input })), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>Reads a request's events and audio up to its terminal event (<c>done</c> or <c>error</c>), which it returns.</summary>
    private static async Task<JsonElement> ReadToEndAsync(ClientWebSocket socket)
    {
        while (true)
        {
            var (type, payload) = await WebSocketMessages.ReceiveAsync(socket, ReceiveTimeout);
            if (type != WebSocketMessageType.Text)
            {
                continue;
            }

            using var document = JsonDocument.Parse(payload);
            if (document.RootElement.GetProperty("type").GetString() is StreamEvent.Done or StreamEvent.Failure)
            {
                return document.RootElement.Clone();
            }
        }
    }
}
