using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using Mesh.Contracts;
using Mesh.Tests.Integration;

namespace Mesh.Tests.Reliability;

/// <summary>SIGTERM: readiness false first, new work refused, in-flight streams finish, then the process exits.</summary>
public sealed class ShutdownTests
{
    private static readonly TimeSpan ReceiveTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Sigterm_drains_a_backend_in_order()
    {
        // Six sentences at 400 ms each: the stream is still running when SIGTERM arrives.
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test", "--Faults:SentenceDelayMs=400", "--Shutdown:ReadinessGraceSeconds=2");
        using var client = new HttpClient { BaseAddress = backend.Url };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech/stream")
        {
            Content = JsonContent.Create(new { voice = "alloy", input = "One. Two. Three. Four. Five. Six." }),
        };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: ", await reader.ReadLineAsync(), StringComparison.Ordinal);

        await SignalAsync(backend.Pid, "TERM");
        await Task.Delay(300);
        using (var readiness = await client.GetAsync(new Uri("/readyz", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, readiness.StatusCode);
        }

        using (var refused = await client.PostAsJsonAsync(new Uri("/v1/audio/speech/stream/pcm", UriKind.Relative), new { voice = "alloy", input = "New work." }))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.NotNull(refused.Headers.RetryAfter);
            Assert.Equal("draining", (await refused.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope))!.Error.Code);
        }

        var sentences = 1;
        JsonElement? done = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal))
            {
                continue;
            }

            using var document = JsonDocument.Parse(line["data: ".Length..]);
            if (document.RootElement.GetProperty("type").GetString() == StreamEvent.Done)
            {
                done = document.RootElement.Clone();
            }
            else
            {
                sentences++;
            }
        }

        Assert.Equal(6, sentences);
        Assert.NotNull(done);
        var exited = Stopwatch.StartNew();
        while (!backend.HasExited && exited.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(100);
        }

        Assert.True(backend.HasExited, "the backend did not exit after draining");
    }

    [Fact]
    public async Task A_gateway_turns_unready_before_it_stops()
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0");
        await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url], "--Mesh:Shutdown:ReadinessGraceSeconds=2");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };

        await SignalAsync(gateway.Pid, "TERM");
        await Task.Delay(300);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync(new Uri("/readyz", UriKind.Relative))).StatusCode);
        // Still serving during the grace period: whoever routes to it has time to notice.
        using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech/stream/pcm", UriKind.Relative), new { voice = "alloy", input = "Still here." });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Sigterm_closes_an_idle_WebSocket_at_once_and_a_busy_one_after_its_request()
    {
        // Four sentences at 400 ms each: the request is still streaming when SIGTERM arrives.
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test", "--Faults:SentenceDelayMs=400", "--Shutdown:ReadinessGraceSeconds=2");
        using var idle = await ConnectAsync(backend);
        using var busy = await ConnectAsync(backend);
        await busy.SendAsync(
            JsonSerializer.SerializeToUtf8Bytes(new { voice = "alloy", input = "One. Two. Three. Four." }), WebSocketMessageType.Text, true, CancellationToken.None);
        Assert.Equal(StreamEvent.Start, (await WebSocketMessages.ReceiveEventAsync(busy, ReceiveTimeout)).GetProperty("type").GetString());

        await SignalAsync(backend.Pid, "TERM");

        var (type, _) = await WebSocketMessages.ReceiveAsync(idle, ReceiveTimeout);
        Assert.Equal(WebSocketMessageType.Close, type);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, idle.CloseStatus);
        Assert.Equal("server shutting down", idle.CloseStatusDescription);

        // The busy one gets the rest of its request, then the same close.
        string? last = null;
        while ((await WebSocketMessages.ReceiveAsync(busy, ReceiveTimeout)) is var (kind, payload) && kind != WebSocketMessageType.Close)
        {
            if (kind == WebSocketMessageType.Text)
            {
                using var document = JsonDocument.Parse(payload);
                last = document.RootElement.GetProperty("type").GetString();
            }
        }

        Assert.Equal(StreamEvent.Done, last);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, busy.CloseStatus);
        Assert.Equal("server shutting down", busy.CloseStatusDescription);
    }

    private static async Task<ClientWebSocket> ConnectAsync(HostProcess host)
    {
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{host.Url.Authority}/v1/audio/speech/ws"), CancellationToken.None);
        return socket;
    }

    private static async Task SignalAsync(int pid, string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }
}
