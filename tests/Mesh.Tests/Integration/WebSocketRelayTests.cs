using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Mesh.Contracts;

namespace Mesh.Tests.Integration;

/// <summary>
/// The gateway's WebSocket relay, in a real gateway process in front of a backend of real Kestrel WebSockets on
/// loopback that breaks its side as the tests need.
/// </summary>
public sealed class WebSocketRelayTests
{
    private const string Realtime = "mesh_requests_total{variant=\"test\",pool=\"shared\",priority=\"realtime\"";
    private static readonly TimeSpan ReceiveTimeout = TimeSpan.FromSeconds(30);

    /// <remarks>
    /// Which of the relay's pumps sees its side end first is a race: mostly the client's, having passed the close on,
    /// now and then the backend's, breaking as the close goes. Twenty connections give it room to show. One failure
    /// ejects the backend here, so a request charged to it would show in <c>mesh_backend_ejections_total</c>, and
    /// refuse the connections after it.
    /// </remarks>
    [Theory]
    [InlineData(BackendBreak.Abort)]
    [InlineData(BackendBreak.Garbage)]
    public async Task A_backend_that_breaks_after_the_clients_close_leaves_the_request_the_clients_499_and_the_close_answered(BackendBreak onClose)
    {
        await using var backend = await BreakingWebSocketBackend.StartAsync(onClose);
        await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url], "--Mesh:Health:ConsecutiveFailures=1");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };

        const int Connections = 20;
        for (var i = 0; i < Connections; i++)
        {
            using var socket = new ClientWebSocket();
            await socket.ConnectAsync(new Uri($"ws://{gateway.Url.Authority}/ws"), CancellationToken.None);
            await socket.SendAsync(
                Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { voice = "alloy", input = "Never answered." })), WebSocketMessageType.Text, true, CancellationToken.None);
            Assert.Equal(StreamEvent.Start, (await WebSocketMessages.ReceiveEventAsync(socket, ReceiveTimeout)).GetProperty("type").GetString());

            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "leaving", CancellationToken.None);

            // Answered as a backend answers a close, not failed (1011) nor dropped.
            var (closing, _) = await WebSocketMessages.ReceiveAsync(socket, ReceiveTimeout);
            Assert.Equal(WebSocketMessageType.Close, closing);
            Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
        }

        await Eventually.UntilAsync(
            async () => MetricsText.Sum(await MetricsAsync(client), "mesh_requests_total{") >= Connections, "not every request was counted");
        var metrics = await MetricsAsync(client);
        Assert.Equal(Connections, MetricsText.Sum(metrics, Realtime, "code=\"499\""));
        Assert.Equal(Connections, MetricsText.Sum(metrics, "mesh_requests_total{"));
        Assert.Contains("mesh_stream_failures_total{variant=\"test\",pool=\"shared\",surface=\"websocket\"} 0", metrics, StringComparison.Ordinal);
        Assert.Equal(0, MetricsText.Sum(metrics, "mesh_backend_ejections_total{"));
    }

    private static Task<string> MetricsAsync(HttpClient client) => client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
}
