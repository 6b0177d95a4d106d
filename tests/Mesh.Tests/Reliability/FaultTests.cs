using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Mesh.Contracts;
using Mesh.Gateway.Streaming;
using Mesh.Tests.Integration;

namespace Mesh.Tests.Reliability;

/// <summary>Backends that crash, hang, restart slowly or throw, with real processes behind a real gateway.</summary>
public sealed class FaultTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string LongText = "One sentence. Two sentences. Three sentences. Four sentences. Five sentences. Six sentences. Seven. Eight. Nine. Ten.";
    private static readonly TimeSpan MarkedEndWithin = TimeSpan.FromSeconds(1);

    // A stream that never ends fails its test here instead of hanging it.
    private static readonly TimeSpan StreamEndTimeout = TimeSpan.FromSeconds(30);

    // "sse-spelled" is the sentence stream at a path the routes accept in another spelling (case, trailing slash).
    public static TheoryData<string> Surfaces => ["sse", "sse-spelled", "openai-sse", "pcm", "wav", "websocket"];

    [Theory]
    [MemberData(nameof(Surfaces))]
    public async Task A_backend_killed_mid_stream_gives_the_client_a_marked_end_within_a_second(string surface)
    {
        // 300 ms per sentence keeps the stream going for seconds after its first audio.
        var backend = await MeshFleet.StartBackendAsync("b0", "test", "--Faults:SentenceDelayMs=300");
        await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url]);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };

        var elapsedAfterKill = await MarkedEndAsync(surface, gateway, client, backend.KillAsync);

        output.WriteLine($"{surface}: marked end {elapsedAfterKill.TotalMilliseconds:0} ms after kill -9");
        Assert.True(elapsedAfterKill < MarkedEndWithin, $"{surface}: the end came {elapsedAfterKill.TotalMilliseconds:0} ms after the kill");
        await AssertCountedAsBackendFailureAsync(client, surface);
        await backend.DisposeAsync();
    }

    [Fact]
    public async Task A_backend_killed_under_an_idle_websocket_closes_it_with_1001_and_fails_no_stream()
    {
        var backend = await MeshFleet.StartBackendAsync("b0", "test");
        await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url]);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{gateway.Url.Authority}/ws"), CancellationToken.None);
        await socket.SendAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { voice = "alloy", input = "Hi." })), WebSocketMessageType.Text, true, CancellationToken.None);
        string? eventType = null;
        while (eventType != StreamEvent.Done)
        {
            var (type, payload) = await WebSocketMessages.ReceiveAsync(socket, StreamEndTimeout);
            if (type == WebSocketMessageType.Text)
            {
                using var received = JsonDocument.Parse(payload);
                eventType = received.RootElement.GetProperty("type").GetString();
            }
        }

        await backend.KillAsync();

        // Nothing was lost but the connection: the client is told to reconnect, not that a request failed.
        var (closing, _) = await WebSocketMessages.ReceiveAsync(socket, StreamEndTimeout);
        Assert.Equal(WebSocketMessageType.Close, closing);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, socket.CloseStatus);
        var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Contains("mesh_stream_failures_total{variant=\"test\",pool=\"shared\",surface=\"websocket\"} 0", metrics, StringComparison.Ordinal);
        Assert.Equal(1, MetricsText.Sum(metrics, "mesh_requests_total{"));
        await backend.DisposeAsync();
    }

    [Theory]
    [InlineData("sse")]
    [InlineData("pcm")]
    [InlineData("websocket")]
    public async Task A_backend_that_stops_answering_mid_stream_gives_the_client_a_marked_end(string surface)
    {
        // A frozen backend keeps its connections open and sends nothing: only its unanswered probes tell. Before, the
        // stream waited for the proxy's 10-minute activity timeout.
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test", "--Faults:SentenceDelayMs=300");
        await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url]);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };
        // Requests that ended before the freeze are no longer watched: only the stream under way is ended.
        string[] finishedFormats = ["wav", "pcm"];
        foreach (var format in finishedFormats)
        {
            using var done = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), new { model = "tts-1", voice = "alloy", input = "Done.", response_format = format });
            Assert.Equal(HttpStatusCode.OK, done.StatusCode);
            await done.Content.ReadAsByteArrayAsync();
        }

        var elapsedAfterFreeze = await MarkedEndAsync(surface, gateway, client, backend.FreezeAsync);

        output.WriteLine($"{surface}: marked end {elapsedAfterFreeze.TotalSeconds:0.0} s after SIGSTOP");
        // Two probes (2 s timeout, every 2 s) must go unanswered: 6-10 s, with room for a busy machine.
        Assert.InRange(elapsedAfterFreeze.TotalSeconds, 3.5, 20);
        await AssertCountedAsBackendFailureAsync(client, surface, servedBefore: finishedFormats.Length);
        Assert.Contains("ended 1 of its requests in flight", gateway.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_backend_that_answers_its_probes_late_but_keeps_streaming_keeps_its_streams()
    {
        // Probes answered after 3 s (the gateway waits 2 s) for as long as the stream runs, 1.5 s between its sentences:
        // the backend is out of rotation, but a stream that still moves is not a frozen one and must end whole, and
        // the backend's other work, an idle WebSocket here, must stay too.
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test", "--Faults:SentenceDelayMs=1500", "--Faults:ProbeDelayMs=3000");
        await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url]);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };
        using var idle = new ClientWebSocket();
        await idle.ConnectAsync(new Uri($"ws://{gateway.Url.Authority}/ws"), CancellationToken.None);

        var clock = Stopwatch.StartNew();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech/stream") { Content = JsonContent.Create(new { voice = "alloy", input = LongText }) };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        using var timeout = new CancellationTokenSource(StreamEndTimeout);
        // Its probes go unanswered, so the backend leaves rotation while it streams, when the probes' schedule brings
        // the third failure: watched all along, not looked at once at a time that a late probe can miss.
        var outOfRotation = GatewayProbes.UntilEveryBackendReadsAsync(client, "mesh_backend_healthy", 0, backends: 1);
        var outOfRotationBeforeDone = false;
        var types = new List<string?>();
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                using var document = JsonDocument.Parse(line["data: ".Length..]);
                var type = document.RootElement.GetProperty("type").GetString();
                types.Add(type);
                outOfRotationBeforeDone |= type == StreamEvent.Done && outOfRotation.IsCompletedSuccessfully;
            }
        }

        output.WriteLine($"{types.Count} events in {clock.Elapsed.TotalSeconds:0.0} s: {string.Join(", ", types)}");
        await outOfRotation;
        Assert.True(outOfRotationBeforeDone, "the backend left rotation only after its stream was done");
        Assert.Equal(StreamEvent.Done, types[^1]);
        Assert.DoesNotContain(StreamEvent.Failure, types);
        Assert.DoesNotContain("of its requests in flight", gateway.Output, StringComparison.Ordinal);

        await idle.SendAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { voice = "alloy", input = "Still here." })), WebSocketMessageType.Text, true, timeout.Token);
        var buffer = new byte[64 * 1024];
        string? lastEvent = null;
        while (lastEvent is not (StreamEvent.Done or StreamEvent.Failure))
        {
            var received = await idle.ReceiveAsync(buffer, timeout.Token);
            Assert.NotEqual(WebSocketMessageType.Close, received.MessageType);
            if (received.MessageType == WebSocketMessageType.Text)
            {
                using var document = JsonDocument.Parse(buffer.AsMemory(0, received.Count));
                lastEvent = document.RootElement.GetProperty("type").GetString();
            }
        }

        Assert.Equal(StreamEvent.Done, lastEvent);
    }

    [Fact]
    public async Task A_request_waiting_on_a_backend_that_stops_answering_is_failed_over_before_its_first_byte()
    {
        // 3 s before its first sentence, so the request is still waiting for its answer when the backend freezes.
        await using var frozen = await MeshFleet.StartBackendAsync("frozen", "test", "--Faults:SentenceDelayMs=3000");
        await using var steady = await MeshFleet.StartBackendAsync("steady");
        await using var gateway = await MeshFleet.StartGatewayAsync([frozen.Url, steady.Url], "--Mesh:Balancing:Policy=RoundRobin");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        // Before, the request on the frozen backend waited for the proxy's 10-minute activity timeout.
        using var client = new HttpClient { BaseAddress = gateway.Url, Timeout = TimeSpan.FromSeconds(40) };

        // Round robin: of two requests, one goes to each backend.
        var clock = Stopwatch.StartNew();
        var requests = Enumerable.Range(0, 2).Select(async _ =>
        {
            using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech/stream/pcm", UriKind.Relative), new { voice = "alloy", input = "Still served." });
            return (response.StatusCode, Backend: response.Headers.GetValues(MeshHeaders.Backend).Single(), Bytes: (await response.Content.ReadAsByteArrayAsync()).Length, clock.Elapsed);
        }).ToArray();
        await Task.Delay(500);
        await frozen.FreezeAsync();

        var results = await Task.WhenAll(requests);
        output.WriteLine(string.Join(", ", results.Select(r => $"{r.StatusCode} from {r.Backend} ({r.Bytes} bytes) at {r.Elapsed.TotalSeconds:0.0} s")));
        Assert.All(results, r =>
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal("steady", r.Backend);
            Assert.True(r.Bytes > 0);
        });
        Assert.Contains("ended 1 of its requests in flight", gateway.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_backend_that_does_not_answer_the_catalogue_is_left_out_of_it_and_logged()
    {
        await using var frozen = await MeshFleet.StartBackendAsync("frozen");
        await using var steady = await MeshFleet.StartBackendAsync("steady");
        await using var gateway = await MeshFleet.StartGatewayAsync([frozen.Url, steady.Url]);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url, Timeout = TimeSpan.FromSeconds(20) };

        // Frozen, the backend still counts as healthy until its probes fail, so the gateway asks it and waits in vain.
        await frozen.FreezeAsync();
        using var response = await client.GetAsync(new Uri("/v1/models", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotEmpty((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("data").EnumerateArray());
        var leftOut = Assert.Single(gateway.Output.Split('\n'), line => line.Contains("did not answer /v1/models", StringComparison.Ordinal));
        Assert.Contains($":{frozen.Url.Port}", leftOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_backend_killed_part_way_through_an_sse_event_leaves_the_client_a_readable_error_event()
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0");
        await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url]);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        // Loopback receive buffers autotune up to 32 MB each, so the client's is fixed small: with it, the buffers
        // between the processes hold well under the stream.
        using var handler = new SocketsHttpHandler { ConnectCallback = ConnectWithSmallReceiveBufferAsync };
        using var client = new HttpClient(handler) { BaseAddress = gateway.Url };
        // Long, slow sentences at 48 kHz make events of megabytes and a stream (about 70 MB, in 4,000 characters) larger than those
        // buffers; while the client does not read, the backend blocks part way through writing an event, so the kill
        // cuts it.
        var text = string.Join(' ', Enumerable.Range(0, 32).Select(i =>
            $"This is a rather long sentence that keeps going, with commas and clauses, so that its audio lasts several seconds, number {i}."));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech/stream") { Content = JsonContent.Create(new { voice = "alloy", input = text, sample_rate = 48000, speed = 0.5 }) };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: ", await reader.ReadLineAsync(), StringComparison.Ordinal);
        await Task.Delay(TimeSpan.FromSeconds(3));
        await backend.KillAsync();

        // Every event parses but, where the kill cut one, that one event; the error event after it stands on its own.
        var types = new List<string>();
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            Assert.StartsWith("data: ", line, StringComparison.Ordinal);
            try
            {
                using var document = JsonDocument.Parse(line["data: ".Length..]);
                types.Add(document.RootElement.GetProperty("type").GetString()!);
            }
            catch (JsonException)
            {
                types.Add("(cut)");
            }
        }

        output.WriteLine($"after the kill: {string.Join(", ", types)}");
        Assert.Equal(StreamEvent.Failure, types[^1]);
        Assert.DoesNotContain(StreamEvent.Done, types);
        Assert.DoesNotContain("(cut)", types[..^2]);
    }

    // Set before the connection opens, so the window it advertises stays this small.
    private static ValueTask<Stream> ConnectWithSmallReceiveBufferAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken) =>
        BackendHttpClientFactory.ConnectAsync(context.DnsEndPoint, 64 * 1024, cancellationToken);

    [Fact]
    public async Task A_restarted_backend_rejoins_only_after_its_readyz()
    {
        // Held until the test ends, so that no other test's server is given the port while the backend is down.
        using var port = new ClosedPort();
        await using var steady = await MeshFleet.StartBackendAsync("steady");
        var restarting = await StartOnPortAsync(port.Port);
        await using var gateway = await MeshFleet.StartGatewayAsync([steady.Url, restarting.Url]);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };

        await restarting.KillAsync();
        await restarting.DisposeAsync();
        // Same address, but the model takes 4 s to load: until /readyz says so, no request may land there. The wait for
        // its first request is generous: on a busy machine the process itself takes seconds to start.
        restarting = await StartOnPortAsync(port.Port, "--Faults:StartupDelayMs=4000", waitReady: false);
        try
        {
            var served = new List<(TimeSpan At, string Backend, HttpStatusCode Status)>();
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(25) && !served.Any(s => s.Backend == "restarting"))
            {
                using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech/stream/pcm", UriKind.Relative), new { voice = "alloy", input = "Hi." });
                served.Add((clock.Elapsed, response.Headers.TryGetValues(MeshHeaders.Backend, out var b) ? b.Single() : "none", response.StatusCode));
                await Task.Delay(100);
            }

            Assert.All(served, s => Assert.Equal(HttpStatusCode.OK, s.Status));
            Assert.True(served.Exists(s => s.Backend == "restarting"), $"the restarted backend got none of {served.Count} requests in {clock.Elapsed.TotalSeconds:0} s");
            var firstOnRestarted = served.First(s => s.Backend == "restarting").At;
            output.WriteLine($"restarted backend: first request {firstOnRestarted.TotalSeconds:0.0} s after its start (model ready after 4 s), {served.Count} requests all 200");
            Assert.True(firstOnRestarted > TimeSpan.FromSeconds(3.5), $"the restarted backend got traffic {firstOnRestarted.TotalSeconds:0.0} s after start, before it was ready");
            Assert.Contains("warmed up", restarting.Output, StringComparison.Ordinal);
        }
        finally
        {
            await restarting.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_hanging_backend_gives_the_client_a_504_at_its_deadline()
    {
        await using var backend = await HostProcess.StartAsync(
            RepoPaths.BackendDll, ["--Backend:Name=b0", "--Backend:Variant=test", "--Faults:SentenceDelayMs=30000"], new Dictionary<string, string> { ["REQUEST_TIMEOUT_SECONDS"] = "2" });
        await backend.WaitReadyAsync(TimeSpan.FromSeconds(60));
        await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url]);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };

        var clock = Stopwatch.StartNew();
        using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech/stream/pcm", UriKind.Relative), new { voice = "alloy", input = "Never." });

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        // At the 2 s deadline, long before the 30 s sentence; the upper bound leaves room for a busy test machine.
        Assert.InRange(clock.Elapsed.TotalSeconds, 1.9, 6.0);
        Assert.Equal("timeout", (await response.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope))!.Error.Code);
        // A retry would run out the whole deadline again: the OpenAI SDKs, which retry every 5xx, are told not to.
        Assert.Equal("false", response.Headers.GetValues(MeshHeaders.ShouldRetry).Single());
    }

    [Fact]
    public async Task An_engine_exception_in_one_request_does_not_disturb_the_others()
    {
        await using var clean = await MeshFleet.StartBackendAsync("clean");
        await using var flaky = await MeshFleet.StartBackendAsync("flaky", "test", "--Faults:FailureRatio=0.5", "--WORKERS=4");
        using var reference = new HttpClient { BaseAddress = clean.Url };
        using var client = new HttpClient { BaseAddress = flaky.Url };
        var body = new { voice = "alloy", input = "A single steady sentence." };
        using var expected = await reference.PostAsJsonAsync(new Uri("/v1/audio/speech/stream/pcm", UriKind.Relative), body);
        var expectedBytes = (await expected.Content.ReadAsByteArrayAsync()).Length;

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech/stream/pcm", UriKind.Relative), body);
            return (response.StatusCode, Bytes: (await response.Content.ReadAsByteArrayAsync()).Length);
        }));

        var failed = results.Where(r => r.StatusCode == HttpStatusCode.InternalServerError).ToArray();
        var succeeded = results.Where(r => r.StatusCode == HttpStatusCode.OK).ToArray();
        Assert.Equal(20, failed.Length + succeeded.Length);
        Assert.NotEmpty(failed);
        Assert.NotEmpty(succeeded);
        // Every request that was not hit got all of its audio (espeak varies by a few ms between runs).
        Assert.All(succeeded, r => Assert.InRange(r.Bytes, expectedBytes * 0.97, expectedBytes * 1.03));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/readyz", UriKind.Relative))).StatusCode);
    }

    private static Task<HostProcess> StartOnPortAsync(int port, string? extra = null, bool waitReady = true)
    {
        string[] args = ["--urls", $"http://127.0.0.1:{port}", "--Backend:Name=restarting", "--Backend:Variant=test"];
        return HostProcess.StartAsync(RepoPaths.BackendDll, extra is null ? args : [.. args, extra], readyTimeout: waitReady ? TimeSpan.FromSeconds(60) : null);
    }

    /// <summary>
    /// The cut stream counts as a stream failure of its surface and, for HTTP, as a 502 request: its 200 status line went
    /// out, but the response did not.
    /// </summary>
    private static async Task AssertCountedAsBackendFailureAsync(HttpClient client, string surface, int servedBefore = 0)
    {
        var expectedSurface = surface switch { "websocket" => "websocket", "pcm" or "wav" => "audio", _ => "sse" };
        var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Contains($"mesh_stream_failures_total{{variant=\"test\",pool=\"shared\",surface=\"{expectedSurface}\"}} 1", metrics, StringComparison.Ordinal);

        // The request is counted when the gateway is done with it, a moment after the client saw the marked end.
        await Eventually.UntilAsync(
            async () => MetricsText.Sum(await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)), "mesh_requests_total{", "code=\"502\"") > 0,
            $"{surface}: the cut stream was not counted as 502");
        metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Equal(1, MetricsText.Sum(metrics, "mesh_requests_total{variant=\"test\",pool=\"shared\"", "code=\"502\""));
        Assert.Equal(servedBefore, MetricsText.Sum(metrics, "mesh_requests_total{variant=\"test\",pool=\"shared\"", "code=\"200\""));
        // A WebSocket's request the backend failed is the server error, not the 101 of its connection's upgrade.
        Assert.Equal(0, MetricsText.Sum(metrics, "mesh_requests_total{", "code=\"101\""));
    }

    /// <summary>Fails the backend once the client has its first audio; returns the time from then to the stream's marked end.</summary>
    private static Task<TimeSpan> MarkedEndAsync(string surface, HostProcess gateway, HttpClient client, Func<Task> failBackend) => surface switch
    {
        "websocket" => WebSocketEndAsync(gateway, failBackend),
        "pcm" => AudioEndAsync(client, failBackend, "/v1/audio/speech/stream/pcm", new { voice = "alloy", input = LongText }),
        "wav" => AudioEndAsync(client, failBackend, "/v1/audio/speech", new { model = "tts-1", voice = "alloy", input = LongText, response_format = "wav" }),
        "openai-sse" => SseEndAsync(client, failBackend, "/v1/audio/speech", openAi: true),
        "sse-spelled" => SseEndAsync(client, failBackend, "/V1/Audio/Speech/Stream/", openAi: false),
        _ => SseEndAsync(client, failBackend, "/v1/audio/speech/stream", openAi: false),
    };

    private static async Task<TimeSpan> SseEndAsync(HttpClient client, Func<Task> failBackend, string path, bool openAi)
    {
        object body = openAi
            ? new { model = "tts-1", voice = "alloy", input = LongText, response_format = "pcm", stream_format = "sse" }
            : new { voice = "alloy", input = LongText };
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        using var timeout = new CancellationTokenSource(StreamEndTimeout);
        Stopwatch? sinceKill = null;
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal))
            {
                continue;
            }

            using var document = JsonDocument.Parse(line["data: ".Length..]);
            var type = document.RootElement.GetProperty("type").GetString();
            if (type == StreamEvent.Failure)
            {
                Assert.NotNull(sinceKill);
                Assert.Equal("backend_failed_mid_stream", document.RootElement.GetProperty("error").GetProperty("code").GetString());
                return sinceKill.Elapsed;
            }

            Assert.NotEqual("speech.audio.done", type);
            Assert.NotEqual(StreamEvent.Done, type);
            if (sinceKill is null)
            {
                await failBackend();
                sinceKill = Stopwatch.StartNew();
            }
        }

        throw new Xunit.Sdk.XunitException("the SSE stream ended without an error event");
    }

    private static async Task<TimeSpan> AudioEndAsync(HttpClient client, Func<Task> failBackend, string path, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var audio = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[4096];
        Assert.True(await audio.ReadAsync(buffer) > 0);
        await failBackend();
        var sinceKill = Stopwatch.StartNew();
        using var timeout = new CancellationTokenSource(StreamEndTimeout);
        // A truncated chunked transfer surfaces as an error, never as a clean end of the body.
        await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            while (await audio.ReadAsync(buffer, timeout.Token) > 0)
            {
            }
        });
        return sinceKill.Elapsed;
    }

    private static async Task<TimeSpan> WebSocketEndAsync(HostProcess gateway, Func<Task> failBackend)
    {
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{gateway.Url.Authority}/ws"), CancellationToken.None);
        await socket.SendAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { voice = "alloy", input = LongText })), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[64 * 1024];
        Stopwatch? sinceKill = null;
        using var timeout = new CancellationTokenSource(StreamEndTimeout);
        while (true)
        {
            var received = await socket.ReceiveAsync(buffer, timeout.Token);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                Assert.NotNull(sinceKill);
                Assert.Equal(WebSocketCloseStatus.InternalServerError, received.CloseStatus);
                return sinceKill.Elapsed;
            }

            if (received.MessageType == WebSocketMessageType.Binary && sinceKill is null)
            {
                await failBackend();
                sinceKill = Stopwatch.StartNew();
            }
        }
    }
}
