using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Mesh.Contracts;

namespace Mesh.Tests.Integration;

/// <summary>
/// The backend's <c>WebSockets:IdleTimeout</c>, on real backend and gateway processes over loopback: a connection on
/// which no request runs or waits is closed with 1001 once it has been idle that long, and the gateway passes that
/// close on to its client unchanged.
/// </summary>
public sealed class WebSocketIdleTimeoutTests
{
    private const int SentenceDelayMs = 500;

    private static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(3);

    private static readonly string IdleTimeoutSetting = $"--WebSockets:IdleTimeout={IdleTimeout:c}";

    // Each bound is timed from something the backend's idle clock cannot start before (the connect, a request's send),
    // so a client that reads late cannot shorten it; only timers, which run on a clock of a few milliseconds' grain,
    // may fire that much before a stopwatch says they are due.
    private static readonly TimeSpan TimerAllowance = TimeSpan.FromMilliseconds(100);

    private static readonly TimeSpan ReceiveTimeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_idle_socket_is_closed_with_1001_once_the_idle_timeout_has_passed(bool throughGateway)
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test", IdleTimeoutSetting);
        await using var gateway = throughGateway ? await MeshFleet.StartGatewayAsync([backend.Url]) : null;
        if (gateway is not null)
        {
            await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        }

        var opened = Stopwatch.StartNew();
        using var socket = await ConnectAsync(gateway ?? backend);

        await ReceiveCloseAsync(socket);

        Assert.True(opened.Elapsed >= IdleTimeout - TimerAllowance, $"closed after {opened.Elapsed}, before the idle timeout");
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, socket.CloseStatus);
        Assert.Equal("idle for 3 s", socket.CloseStatusDescription);
        using var client = new HttpClient { BaseAddress = backend.Url };
        Assert.Contains(
            "mesh_websocket_idle_closes_total{backend=\"b0\",variant=\"test\"} 1",
            await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_socket_is_not_idle_while_a_long_request_streams_and_another_waits_behind_it()
    {
        // Twelve sentences of 500 ms each stream for 6 s or more, twice the idle timeout.
        const int Sentences = 12;
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test", IdleTimeoutSetting, $"--Faults:SentenceDelayMs={SentenceDelayMs}");
        using var socket = await ConnectAsync(backend);
        var streaming = Stopwatch.StartNew();

        await SendAsync(socket, string.Join(' ', Enumerable.Range(1, Sentences).Select(i => $"Sentence number {i}.")));
        await SendAsync(socket, "The request that waits.");
        var done = await ReadDoneAsync(socket);
        await ReadDoneAsync(socket);

        Assert.True(streaming.Elapsed > IdleTimeout * 2, $"took {streaming.Elapsed}: not past the idle timeout, so this proves nothing");
        Assert.Equal(Sentences, done.GetProperty("sentences").GetInt32());
        // A clock that ran during the stream would have closed the socket before either done (ReadDoneAsync fails on
        // that). Idle from the last done on, the close comes the idle timeout after it. The backend's one worker runs
        // the sentences, the waiting request's one last, one after another, so that done cannot go out before all their
        // delays have passed since the requests were sent.
        var lastDoneNotBefore = TimeSpan.FromMilliseconds(SentenceDelayMs) * (Sentences + 1);
        await ReceiveCloseAsync(socket);
        Assert.True(
            streaming.Elapsed >= lastDoneNotBefore + IdleTimeout - TimerAllowance,
            $"closed {streaming.Elapsed} after the requests were sent, less than {lastDoneNotBefore} of sentences and the idle timeout");
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, socket.CloseStatus);
    }

    [Fact]
    public async Task A_request_sent_before_the_idle_timeout_starts_the_clock_again()
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test", IdleTimeoutSetting);
        var opened = Stopwatch.StartNew();
        using var socket = await ConnectAsync(backend);

        await Task.Delay(IdleTimeout / 2);
        var sent = Stopwatch.StartNew();
        await SendAsync(socket, "Just in time.");
        await ReadDoneAsync(socket);
        await ReceiveCloseAsync(socket);

        // The request's done, which starts the clock again, went out after the request was sent.
        Assert.True(sent.Elapsed >= IdleTimeout - TimerAllowance, $"closed {sent.Elapsed} after the request was sent");
        Assert.True(opened.Elapsed >= (IdleTimeout * 1.5) - TimerAllowance, $"closed {opened.Elapsed} after the connection opened");
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, socket.CloseStatus);
    }

    /// <remarks>
    /// A request sent as the idle close goes out crosses it: the backend reads it while it waits for the close reply and
    /// counts it once, as 503, though no answer can follow its close. Sent here once the client has the close.
    /// </remarks>
    [Fact]
    public async Task A_request_that_crosses_the_idle_close_counts_as_503()
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test", IdleTimeoutSetting);
        using var socket = await ConnectAsync(backend);
        var (type, _) = await WebSocketMessages.ReceiveAsync(socket, ReceiveTimeout);
        Assert.Equal(WebSocketMessageType.Close, type);

        await SendAsync(socket, "Sent across the close.");
        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);

        using var client = new HttpClient { BaseAddress = backend.Url };
        await Eventually.UntilAsync(
            async () => MetricsText.Sum(await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)), "mesh_requests_total{") >= 1,
            "the request that crossed the close was not counted");
        // A second count would come as the connection ends: give it the time to show.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Matches(@"(?m)^mesh_requests_total\{[^}]*priority=""realtime"",code=""503""\} 1$", metrics);
        Assert.Equal(1, MetricsText.Sum(metrics, "mesh_requests_total{"));
    }

    private static async Task<ClientWebSocket> ConnectAsync(HostProcess host)
    {
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(new UriBuilder(host.Url) { Scheme = "ws", Path = "/ws" }.Uri, CancellationToken.None);
        return socket;
    }

    private static Task SendAsync(ClientWebSocket socket, string input) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { voice = "alloy", input })), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>Reads a request's events and audio up to its <c>done</c>, which it returns; a close or an <c>error</c> before it fails the test.</summary>
    private static async Task<JsonElement> ReadDoneAsync(ClientWebSocket socket)
    {
        while (true)
        {
            var (type, payload) = await WebSocketMessages.ReceiveAsync(socket, ReceiveTimeout);
            Assert.True(type != WebSocketMessageType.Close, $"closed with {socket.CloseStatus} '{socket.CloseStatusDescription}' before the request was done");
            if (type != WebSocketMessageType.Text)
            {
                continue;
            }

            using var document = JsonDocument.Parse(payload);
            var eventType = document.RootElement.GetProperty("type").GetString();
            Assert.NotEqual(StreamEvent.Failure, eventType);
            if (eventType == StreamEvent.Done)
            {
                return document.RootElement.Clone();
            }
        }
    }

    /// <summary>Waits for the server's close frame, which must be the next message, and answers it.</summary>
    private static async Task ReceiveCloseAsync(ClientWebSocket socket)
    {
        var (type, _) = await WebSocketMessages.ReceiveAsync(socket, ReceiveTimeout);
        Assert.Equal(WebSocketMessageType.Close, type);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
    }
}
