using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using Mesh.Backend.Host;
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
        await UntilUnreadyAsync(client);

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

    /// <remarks>
    /// Thirty sentences at 700 ms each outlast the 2 s drain: the stream still running when it runs out ends with a 503
    /// <c>draining</c> <c>error</c> event, which says another backend (or gateway) may serve it, not cut with no word as a
    /// client's leaving is; through the gateway, the gateway's drain ends the stream it relays so.
    /// </remarks>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_stream_still_running_when_the_drain_runs_out_ends_with_a_draining_error_event(bool throughGateway)
    {
        await using var fleet = await DrainingFleet.StartAsync(throughGateway);
        using var client = new HttpClient { BaseAddress = fleet.Stopped.Url };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech/stream")
        {
            Content = JsonContent.Create(new { voice = "alloy", input = LongInput }),
        };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: ", await reader.ReadLineAsync(), StringComparison.Ordinal);

        await SignalAsync(fleet.Stopped.Pid, "TERM");

        var types = new List<string?>();
        JsonElement last = default;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                using var document = JsonDocument.Parse(line["data: ".Length..]);
                last = document.RootElement.Clone();
                types.Add(last.GetProperty("type").GetString());
            }
        }

        Assert.Equal(StreamEvent.Failure, types.LastOrDefault());
        Assert.InRange(types.Count, 1, 15);
        ErrorEnvelopeAssert.Says(ErrorEnvelopeAssert.IsErrorBody(last.GetProperty("error")), ErrorTypes.Server, null, "draining");
    }

    /// <remarks>
    /// As over HTTP: the WebSocket request still running when the drain runs out ends with its 503 <c>draining</c>
    /// <c>error</c> event, carrying the request id its <c>start</c> gave, then the connection's 1001 close; through the
    /// gateway, at the gateway's drain, which knows the id from the backend's <c>start</c>.
    /// </remarks>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_WebSocket_request_still_running_when_the_drain_runs_out_ends_with_a_draining_error_event_and_a_1001(bool throughGateway)
    {
        await using var fleet = await DrainingFleet.StartAsync(throughGateway);
        using var socket = await ConnectAsync(fleet.Stopped);
        var requestId = await StartLongRequestAsync(socket);

        await SignalAsync(fleet.Stopped.Pid, "TERM");

        await AssertEndedByTheDrainAsync(socket, requestId);
    }

    /// <remarks>
    /// One slot: a WebSocket request streaming 30 sentences at 700 ms holds it, and another connection's request waits in
    /// the gateway's admission queue. Once the gateway reads unready after SIGTERM (a 2 s readiness grace), a second
    /// request goes on the waiting connection: the relay has read it while the first still waits for a slot. Either the
    /// queue's timeout outlasts the 2 s drain, and when the drain runs out each of the two gets its own 503
    /// <c>draining</c> <c>error</c> event, as the one under way does; or the first is shed at its 5 s timeout within a
    /// 10 s drain, gets its 429 <c>queue_timeout</c>, and the second its 503 <c>draining</c> at once after it. Neither
    /// 503 has a <c>request_id</c> (no backend gave one), and the 1001 close follows. The second used to get none,
    /// though it was counted as 503: the relay registered it only once the first's wait ended, which, shed, also let the
    /// drain's close pass it.
    /// </remarks>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task WebSocket_requests_waiting_for_a_slot_or_sent_behind_one_at_the_gateways_drain_each_get_their_error_event_before_the_1001(bool shedBeforeTheDrainEnds)
    {
        await using var fleet = await DrainingFleet.StartAsync(
            throughGateway: true,
            gatewayArgs:
            [
                "--Mesh:Admission:TotalConcurrency=1", "--Mesh:Admission:RealtimeReserved=0", "--Mesh:Shutdown:ReadinessGraceSeconds=2",
                $"--Mesh:Admission:Realtime:QueueTimeoutMs={(shedBeforeTheDrainEnds ? 5000 : 60000)}",
                $"--Mesh:Shutdown:DrainTimeoutSeconds={(shedBeforeTheDrainEnds ? 10 : 2)}",
            ]);
        using var running = await ConnectAsync(fleet.Stopped);
        var requestId = await StartLongRequestAsync(running);
        using var waiting = await ConnectAsync(fleet.Stopped);
        await SendAsync(waiting, "Waiting for a slot.");
        using var client = new HttpClient { BaseAddress = fleet.Stopped.Url };
        await Eventually.UntilAsync(
            async () => MetricsText.Sum(await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)), "mesh_queue_depth") >= 1,
            "the second request did not queue");

        await SignalAsync(fleet.Stopped.Pid, "TERM");
        await UntilUnreadyAsync(client);
        await SendAsync(waiting, "Sent behind it.");

        var waitingEvents = await ReceiveEventsUntilCloseAsync(waiting);
        Assert.Equal(2, waitingEvents.Count);
        if (shedBeforeTheDrainEnds)
        {
            Assert.Equal(StreamEvent.Failure, waitingEvents[0].GetProperty("type").GetString());
            ErrorEnvelopeAssert.Says(ErrorEnvelopeAssert.IsErrorBody(waitingEvents[0].GetProperty("error")), ErrorTypes.RateLimit, null, "queue_timeout");
        }

        foreach (var refused in waitingEvents.Skip(shedBeforeTheDrainEnds ? 1 : 0).Select(AssertDrainingError))
        {
            Assert.False(refused.TryGetProperty("request_id", out _), $"a request no backend started has a request_id: {refused}");
        }

        AssertClosedForShutdown(waiting);
        if (!shedBeforeTheDrainEnds)
        {
            await AssertEndedByTheDrainAsync(running, requestId);
        }
    }

    /// <remarks>
    /// One slot: a request whose backend takes 5 s to its first audio, and so to its response's start, holds it, and a
    /// second waits in the admission queue. When the gateway's 2 s drain runs out, both get the 503 <c>draining</c>
    /// envelope rather than a cut connection.
    /// </remarks>
    [Fact]
    public async Task Requests_not_yet_answered_when_the_gateways_drain_runs_out_get_the_draining_envelope()
    {
        await using var fleet = await DrainingFleet.StartAsync(
            throughGateway: true, sentenceDelayMs: 5000, "--Mesh:Admission:TotalConcurrency=1", "--Mesh:Admission:RealtimeReserved=0");
        using var client = new HttpClient { BaseAddress = fleet.Stopped.Url };
        var forwarded = client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), new { model = "tts-1", voice = "alloy", input = "Too late." });
        await Eventually.UntilAsync(
            async () => MetricsText.Sum(await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)), "mesh_queue_wait_seconds_count") > 0,
            "the first request took no slot");
        var queued = client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), new { model = "tts-1", voice = "alloy", input = "Queued." });
        await Eventually.UntilAsync(
            async () => MetricsText.Sum(await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)), "mesh_queue_depth") >= 1,
            "the second request did not queue");

        await SignalAsync(fleet.Stopped.Pid, "TERM");

        foreach (var answer in new[] { forwarded, queued })
        {
            using var response = await answer;
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            ErrorEnvelopeAssert.Says(ErrorEnvelopeAssert.IsEnvelope(await response.Content.ReadAsStringAsync()), ErrorTypes.Server, null, "draining");
        }
    }

    [Fact]
    public async Task Sigterm_stops_a_backend_whose_sentence_hangs_on_the_engine_without_waiting_for_it()
    {
        // Each sentence blocks its worker for a minute, deaf to cancellation, as a hung native engine call does.
        await using var backend = await MeshFleet.StartBackendAsync(
            "b0", "test", "--Faults:SentenceHangMs=60000", "--Shutdown:ReadinessGraceSeconds=0", "--Shutdown:DrainTimeoutSeconds=1");
        using var client = new HttpClient { BaseAddress = backend.Url };
        var request = client.PostAsJsonAsync(new Uri("/v1/audio/speech/stream/pcm", UriKind.Relative), new { voice = "alloy", input = "Never spoken." });
        await Eventually.UntilAsync(
            async () => MetricsText.Sum(await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)), "mesh_queue_wait_seconds_count") > 0,
            "no worker took the sentence");

        var stopping = Stopwatch.StartNew();
        var exitCode = await backend.TerminateAsync(TimeSpan.FromSeconds(30));

        // The drain (1 s), then 2 s for the sentence, shared by the scheduler's wait for it and the model host's for the
        // lease it holds (3.0-3.1 s on an idle machine; ModelHostTests holds the two waits to one). The bound leaves room
        // for a loaded machine: it tells that the process did not live on until the sentence ended, a minute later.
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(10), $"stopped in {stopping.Elapsed}");
        Assert.Equal(0, exitCode);
        Assert.Contains("1 sentences still on the engine when the 2 s given to work on the engine after the drain ran out", backend.Output, StringComparison.Ordinal);
        Assert.Contains("left undisposed: 1 leases", backend.Output, StringComparison.Ordinal);
        // Its request, still waiting for its first audio when the drain ran out, was answered as draining, not cut.
        using var response = await request;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("draining", (await response.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope))!.Error.Code);
    }

    /// <summary>
    /// A SIGTERM at any moment of a host's start, from its first log line (the host built) to past Kestrel binding its
    /// port, ends it with exit code 0 and no unhandled exception, as one after the start does; one that cancelled the
    /// bind used to abort the process (exit code 134, a TaskCanceledException out of KestrelServerImpl.BindAsync).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Sigterm_at_any_moment_of_the_start_ends_the_host_with_exit_code_0(bool gateway)
    {
        using var noBackend = new ClosedPort();
        var (dll, args) = gateway
            ? (RepoPaths.GatewayDll, MeshFleet.FleetArgs(0, "b0", noBackend.Url, "shared", "test").Append("--Mesh:Shutdown:ReadinessGraceSeconds=0"))
            : (RepoPaths.BackendDll, ["--Shutdown:ReadinessGraceSeconds=0"]);
        // The first line comes some 0.2-0.4 s before the port is bound on two busy cores.
        for (var delayMs = 0; delayMs <= 600; delayMs += 25)
        {
            await using var host = HostProcess.Launch(dll, args);
            await host.FirstLine.WaitAsync(TimeSpan.FromSeconds(60));
            await Task.Delay(delayMs);

            var exitCode = await host.TerminateAsync(TimeSpan.FromSeconds(30));
            Assert.True(
                exitCode == 0 && !host.Output.Contains("Unhandled exception", StringComparison.Ordinal),
                $"SIGTERM {delayMs} ms after the first line: exit code {exitCode}\n{host.Output}");
        }
    }

    /// <remarks>
    /// In the readiness grace the gateway still serves HTTP requests, which end within it, but refuses a WebSocket
    /// upgrade, before it asks a backend, with 503 <c>draining</c> and <c>Retry-After</c>, counted as 503: the relay would
    /// close the connection at once, and the client, told to go away, reconnected in a loop while the listener was up.
    /// </remarks>
    [Fact]
    public async Task A_gateway_turns_unready_before_it_stops_serving_requests_but_refusing_WebSocket_upgrades_in_the_grace()
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0");
        await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url], "--Mesh:Shutdown:ReadinessGraceSeconds=5");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };

        await SignalAsync(gateway.Pid, "TERM");

        await UntilUnreadyAsync(client);
        // Still serving during the grace period: whoever routes to it has time to notice.
        using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech/stream/pcm", UriKind.Relative), new { voice = "alloy", input = "Still here." });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var upgrade = await RawHttp.SendAsync(
            gateway.Url, RawHttp.WebSocketHandshake("/v1/audio/speech/ws", "13", Convert.ToBase64String(Guid.NewGuid().ToByteArray())));
        Assert.Equal((int)HttpStatusCode.ServiceUnavailable, upgrade.Status);
        Assert.Equal("1", upgrade.Headers["Retry-After"]);
        ErrorEnvelopeAssert.Says(ErrorEnvelopeAssert.IsEnvelope(upgrade.Text), ErrorTypes.Server, null, "draining");
        Assert.Matches(@"(?m)^mesh_requests_total\{[^}]*code=""503""\} 1$", await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)));
    }

    /// <remarks>
    /// SIGTERM to the backend, or to the gateway relaying both connections (its drain, 30 s, outlasting the receive
    /// timeout): the idle connection is closed at once so its client reconnects elsewhere, not at the drain's end. The
    /// busy one gets the rest of its request (eight sentences at 400 ms each: still streaming when the next is sent,
    /// once the process reads unready), then, for that next one, a 503 <c>draining</c> <c>error</c> event, then the same
    /// close. The gateway does not relay that request: the backend counts only the first. The readiness grace keeps the
    /// listener, and so <c>/metrics</c>, up past the close.
    /// </remarks>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Sigterm_closes_an_idle_WebSocket_at_once_and_a_busy_one_after_its_request_refusing_one_sent_meanwhile(bool throughGateway)
    {
        await using var backend = await MeshFleet.StartBackendAsync(
            "b0", "test", ["--Faults:SentenceDelayMs=400", .. throughGateway ? Array.Empty<string>() : ["--Shutdown:ReadinessGraceSeconds=10"]]);
        await using var gateway = throughGateway ? await MeshFleet.StartGatewayAsync([backend.Url], "--Mesh:Shutdown:ReadinessGraceSeconds=10") : null;
        if (gateway is not null)
        {
            await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        }

        var stopped = gateway ?? backend;
        using var idle = await ConnectAsync(stopped);
        using var busy = await ConnectAsync(stopped);
        await SendAsync(busy, "One. Two. Three. Four. Five. Six. Seven. Eight.");
        Assert.Equal(StreamEvent.Start, (await WebSocketMessages.ReceiveEventAsync(busy, ReceiveTimeout)).GetProperty("type").GetString());

        await SignalAsync(stopped.Pid, "TERM");

        using var client = new HttpClient { BaseAddress = stopped.Url };
        await UntilUnreadyAsync(client);
        await SendAsync(busy, "Sent during the drain.");
        var (type, _) = await WebSocketMessages.ReceiveAsync(idle, ReceiveTimeout);
        Assert.Equal(WebSocketMessageType.Close, type);
        AssertClosedForShutdown(idle);

        var events = await ReceiveEventsUntilCloseAsync(busy);
        Assert.Equal([StreamEvent.Done, StreamEvent.Failure], events.Select(e => e.GetProperty("type").GetString()).TakeLast(2));
        var refused = AssertDrainingError(events[^1]);
        Assert.False(refused.TryGetProperty("request_id", out _), $"a refused request has a request_id: {refused}");
        // The gateway's words for it are the backend's, but for which of the two is shutting down.
        Assert.Equal(ApiError.Draining(throughGateway ? "gateway" : "backend").Message, refused.GetProperty("error").GetProperty("message").GetString());
        AssertClosedForShutdown(busy);

        var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Matches(@"(?m)^mesh_requests_total\{[^}]*priority=""realtime"",code=""503""\} 1$", metrics);
        Assert.Matches(@"(?m)^mesh_requests_total\{[^}]*priority=""realtime"",code=""200""\} 1$", metrics);
        Assert.Equal(2, MetricsText.Sum(metrics, "mesh_requests_total{"));
        if (gateway is not null)
        {
            using var backendClient = new HttpClient { BaseAddress = backend.Url };
            Assert.Equal(1, MetricsText.Sum(await backendClient.GetStringAsync(new Uri("/metrics", UriKind.Relative)), "mesh_requests_total{"));
        }
    }

    /// <remarks>
    /// Nothing already accepted is lost silently: the requests read ahead behind the one streaming when SIGTERM comes
    /// each get the draining error an HTTP request gets then, and are counted, before the close. The readiness grace
    /// keeps the listener, and so <c>/metrics</c>, up past the close.
    /// </remarks>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Sigterm_answers_the_WebSocket_requests_waiting_behind_the_one_under_way_as_draining(bool throughGateway)
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test", "--Faults:SentenceDelayMs=400", "--Shutdown:ReadinessGraceSeconds=5");
        await using var gateway = throughGateway ? await MeshFleet.StartGatewayAsync([backend.Url]) : null;
        if (gateway is not null)
        {
            await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        }

        using var socket = await ConnectAsync(gateway ?? backend);
        await SendAsync(socket, "One. Two. Three. Four.");
        Assert.Equal(StreamEvent.Start, (await WebSocketMessages.ReceiveEventAsync(socket, ReceiveTimeout)).GetProperty("type").GetString());
        const int waiting = 2;
        for (var i = 0; i < waiting; i++)
        {
            await SendAsync(socket, $"Waiting request {i}.");
        }

        // Time for the backend to read them while the first of four sentences of 400 ms streams.
        await Task.Delay(TimeSpan.FromMilliseconds(300));
        await SignalAsync(backend.Pid, "TERM");

        var events = await ReceiveEventsUntilCloseAsync(socket);
        AssertClosedForShutdown(socket);
        Assert.Equal(
            [StreamEvent.Done, .. Enumerable.Repeat(StreamEvent.Failure, waiting)],
            events.Select(e => e.GetProperty("type").GetString()).TakeLast(1 + waiting));
        foreach (var refused in events.TakeLast(waiting))
        {
            AssertDrainingError(refused);
            Assert.Equal(SpeechPreparation.Draining.Message, refused.GetProperty("error").GetProperty("message").GetString());
            Assert.False(refused.TryGetProperty("request_id", out _), $"a refused request has a request_id: {refused}");
        }

        using var client = new HttpClient { BaseAddress = backend.Url };
        var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Matches($@"(?m)^mesh_requests_total\{{[^}}]*priority=""realtime"",code=""503""\}} {waiting}$", metrics);
        Assert.Matches(@"(?m)^mesh_requests_total\{[^}]*priority=""realtime"",code=""200""\} 1$", metrics);
        Assert.Equal(1 + waiting, MetricsText.Sum(metrics, "mesh_requests_total{"));
    }

    /// <remarks>
    /// A request the client sends just after the backend's shutdown close goes out, before it has read that close,
    /// crosses it: the backend still reads it while it waits for the client's close reply, and though no answer can
    /// follow its close frame, counts it once as what the drain answers a request that waits, 503. The client sends it
    /// here once it has the close, which a WebSocket still lets it do, so the request crosses the close every time.
    /// </remarks>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_WebSocket_request_that_crosses_the_shutdown_close_counts_as_503(bool throughGateway)
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test", "--Shutdown:ReadinessGraceSeconds=10");
        await using var gateway = throughGateway ? await MeshFleet.StartGatewayAsync([backend.Url]) : null;
        if (gateway is not null)
        {
            await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        }

        using var socket = await ConnectAsync(gateway ?? backend);
        await SignalAsync(backend.Pid, "TERM");
        var (kind, _) = await WebSocketMessages.ReceiveAsync(socket, ReceiveTimeout);
        Assert.Equal(WebSocketMessageType.Close, kind);
        Assert.Equal("server shutting down", socket.CloseStatusDescription);

        await SendAsync(socket, "Sent across the close.");
        using var client = new HttpClient { BaseAddress = backend.Url };
        // Within the readiness grace, while the listener, and so /metrics, is still up.
        await Eventually.UntilAsync(
            async () => MetricsText.Sum(await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)), "mesh_requests_total{") >= 1,
            "the request that crossed the close was not counted",
            TimeSpan.FromSeconds(4));
        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        // A second count (as a client gone, 499) would come as the connection ends: give it the time to show.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        AssertCountedOnceAs503(await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)));
        if (gateway is not null)
        {
            // The gateway counts it as the backend does, not as a request the backend failed (502).
            using var gatewayClient = new HttpClient { BaseAddress = gateway.Url };
            AssertCountedOnceAs503(await gatewayClient.GetStringAsync(new Uri("/metrics", UriKind.Relative)));
        }

        static void AssertCountedOnceAs503(string metrics)
        {
            Assert.Matches(@"(?m)^mesh_requests_total\{[^}]*priority=""realtime"",code=""503""\} 1$", metrics);
            Assert.Equal(1, MetricsText.Sum(metrics, "mesh_requests_total{"));
        }
    }

    private static string LongInput => string.Concat(Enumerable.Range(1, 30).Select(i => $"Sentence {i}. "));

    /// <summary>Sends <see cref="LongInput"/> on <paramref name="socket"/>: the request_id of its <c>start</c>, once that came.</summary>
    private static async Task<string?> StartLongRequestAsync(ClientWebSocket socket)
    {
        await SendAsync(socket, LongInput);
        var start = await WebSocketMessages.ReceiveEventAsync(socket, ReceiveTimeout);
        Assert.Equal(StreamEvent.Start, start.GetProperty("type").GetString());
        return start.GetProperty("request_id").GetString();
    }

    /// <summary>Asserts that the request under way ends with its 503 <c>draining</c> <c>error</c> event, then the shutdown's close.</summary>
    private static async Task AssertEndedByTheDrainAsync(ClientWebSocket socket, string? requestId)
    {
        var last = AssertDrainingError((await ReceiveEventsUntilCloseAsync(socket)).Last());
        Assert.Equal(requestId, last.GetProperty("request_id").GetString());
        AssertClosedForShutdown(socket);
    }

    /// <summary>The text events received until the close, which has then come.</summary>
    private static async Task<List<JsonElement>> ReceiveEventsUntilCloseAsync(ClientWebSocket socket)
    {
        var events = new List<JsonElement>();
        while ((await WebSocketMessages.ReceiveAsync(socket, ReceiveTimeout)) is var (kind, payload) && kind != WebSocketMessageType.Close)
        {
            if (kind == WebSocketMessageType.Text)
            {
                using var document = JsonDocument.Parse(payload);
                events.Add(document.RootElement.Clone());
            }
        }

        return events;
    }

    /// <summary>Asserts that <paramref name="streamEvent"/> is an <c>error</c> event with 503 <c>draining</c>, and returns it.</summary>
    private static JsonElement AssertDrainingError(JsonElement streamEvent)
    {
        Assert.Equal(StreamEvent.Failure, streamEvent.GetProperty("type").GetString());
        ErrorEnvelopeAssert.Says(ErrorEnvelopeAssert.IsErrorBody(streamEvent.GetProperty("error")), ErrorTypes.Server, null, "draining");
        return streamEvent;
    }

    private static void AssertClosedForShutdown(ClientWebSocket socket)
    {
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, socket.CloseStatus);
        Assert.Equal("server shutting down", socket.CloseStatusDescription);
    }

    private static async Task<ClientWebSocket> ConnectAsync(HostProcess host)
    {
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{host.Url.Authority}/v1/audio/speech/ws"), CancellationToken.None);
        return socket;
    }

    /// <summary>Waits for <c>/readyz</c> to answer 503: the process sees the signal in its own time, which a loaded machine delays.</summary>
    private static Task UntilUnreadyAsync(HttpClient client) => Eventually.UntilAsync(
        async () =>
        {
            using var readiness = await client.GetAsync(new Uri("/readyz", UriKind.Relative));
            return readiness.StatusCode == HttpStatusCode.ServiceUnavailable;
        },
        "still ready after SIGTERM");

    private static Task SendAsync(ClientWebSocket socket, string input) =>
        socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(new { voice = "alloy", input }), WebSocketMessageType.Text, true, CancellationToken.None);

    private static async Task SignalAsync(int pid, string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }

    /// <summary>
    /// A backend that makes each sentence in <c>sentenceDelayMs</c>, alone or behind a gateway, and the one of the two that
    /// is to be stopped, with no readiness grace and a 2 s drain, unless the gateway's arguments say otherwise.
    /// </summary>
    private sealed class DrainingFleet(HostProcess backend, HostProcess? gateway) : IAsyncDisposable
    {
        public HostProcess Stopped => gateway ?? backend;

        public static async Task<DrainingFleet> StartAsync(bool throughGateway, int sentenceDelayMs = 700, params string[] gatewayArgs)
        {
            var sentenceDelay = $"--Faults:SentenceDelayMs={sentenceDelayMs}";
            if (!throughGateway)
            {
                return new DrainingFleet(
                    await MeshFleet.StartBackendAsync("b0", "test", sentenceDelay, "--Shutdown:ReadinessGraceSeconds=0", "--Shutdown:DrainTimeoutSeconds=2"),
                    null);
            }

            var backend = await MeshFleet.StartBackendAsync("b0", "test", sentenceDelay);
            var gateway = await MeshFleet.StartGatewayAsync(
                [backend.Url], ["--Mesh:Shutdown:ReadinessGraceSeconds=0", "--Mesh:Shutdown:DrainTimeoutSeconds=2", .. gatewayArgs]);
            await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
            return new DrainingFleet(backend, gateway);
        }

        public async ValueTask DisposeAsync()
        {
            if (gateway is not null)
            {
                await gateway.DisposeAsync();
            }

            await backend.DisposeAsync();
        }
    }
}
