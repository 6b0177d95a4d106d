using System.IO.Compression;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Mesh.Contracts;
using Mesh.Tests.Integration;

namespace Mesh.Tests.Reliability;

/// <summary>
/// Every endpoint, fed bad input through the gateway (and the backend where the gateway answers first): each case gets
/// its precise status and the OpenAI envelope; on the WebSocket an <c>error</c> event and a connection that still
/// works. The last test checks that the mesh still serves after all of it.
/// </summary>
[Collection(MeshFleetDefinition.Name)]
[TestCaseOrderer(RunsLastOrderer.TypeName, RunsLastOrderer.AssemblyName)]
public sealed class BadInputCatalogueTests(MeshFleet fleet)
{
    // RFC 6455 §1.3's example key: 16 bytes in base64.
    private const string ValidKey = "dGhlIHNhbXBsZSBub25jZQ==";

    private static readonly TimeSpan ReceiveTimeout = TimeSpan.FromSeconds(20);
    private static readonly string[] WebSocketPaths = ["/ws", "/v1/audio/speech/ws"];

    public static TheoryData<string> HttpCases => new(BadInputCatalogue.All.Select(c => c.Name));

    public static TheoryData<string, string> WebSocketCases
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var path in WebSocketPaths)
            {
                foreach (var name in BadWebSocketMessages.Keys)
                {
                    data.Add(path, name);
                }
            }

            return data;
        }
    }

    /// <summary>A GET on a WebSocket path that is not a handshake the server can accept.</summary>
    public enum RefusedHandshake
    {
        NoUpgrade,
        OldVersion,
        MalformedKey,
    }

    public static TheoryData<string> WebSocketPathData => new(WebSocketPaths);

    public static TheoryData<string, RefusedHandshake> RefusedHandshakeData
    {
        get
        {
            var data = new TheoryData<string, RefusedHandshake>();
            foreach (var path in WebSocketPaths)
            {
                foreach (var handshake in Enum.GetValues<RefusedHandshake>())
                {
                    data.Add(path, handshake);
                }
            }

            return data;
        }
    }

    /// <summary>Recoverable bad WebSocket messages: what is sent, and the error's param and code.</summary>
    private static Dictionary<string, (Func<ClientWebSocket, Task> Send, string? Param, string Code)> BadWebSocketMessages { get; } = new()
    {
        ["text that is not JSON"] = (s => SendTextAsync(s, "this is not json"), null, "invalid_json"),
        ["unclosed array"] = (s => SendTextAsync(s, "["), null, "invalid_json"),
        ["null"] = (s => SendTextAsync(s, "null"), null, "invalid_json"),
        ["empty array"] = (s => SendTextAsync(s, "[]"), null, "invalid_json"),
        ["empty message"] = (s => SendTextAsync(s, ""), null, "invalid_json"),
        ["input of the wrong type"] = (s => SendTextAsync(s, """{"voice":"alloy","input":42}"""), "input", "invalid_type"),
        ["input whitespace only"] = (s => SendTextAsync(s, """{"voice":"alloy","input":"  \n "}"""), "input", "nothing_to_speak"),
        ["input punctuation only"] = (s => SendTextAsync(s, """{"voice":"alloy","input":"?! ... ()"}"""), "input", "nothing_to_speak"),
        ["input 4097 characters"] = (s => SendTextAsync(s, $$"""{"voice":"alloy","input":"{{new string('a', 4097)}}"}"""), "input", "string_above_max_length"),
        ["NUL in input"] = (s => SendTextAsync(s, """{"voice":"alloy","input":"a\u0000b"}"""), "input", "invalid_characters"),
        ["lone surrogate escape"] = (s => SendTextAsync(s, """{"voice":"alloy","input":"\udc00"}"""), "input", "invalid_encoding"),
        ["speed out of range"] = (s => SendTextAsync(s, """{"voice":"alloy","input":"Hi.","speed":9}"""), "speed", "invalid_value"),
        ["sample_rate not offered"] = (s => SendTextAsync(s, """{"voice":"alloy","input":"Hi.","sample_rate":12345}"""), "sample_rate", "invalid_value"),
        ["priority unknown"] = (s => SendTextAsync(s, """{"voice":"alloy","input":"Hi.","priority":"urgent"}"""), "priority", "invalid_value"),
        ["voice empty"] = (s => SendTextAsync(s, """{"voice":"","input":"Hi."}"""), "voice", "invalid_value"),
        ["voice unknown"] = (s => SendTextAsync(s, """{"voice":"nobody","input":"Hi."}"""), "voice", "voice_not_found"),
        ["voice unknown with a known language"] = (s => SendTextAsync(s, """{"voice":"nobody","input":"Hi.","language":"en"}"""), "voice", "voice_not_found"),
        ["voice path"] = (s => SendTextAsync(s, """{"voice":"../../etc/passwd","input":"Hi."}"""), "voice", "voice_not_found"),
        ["model unknown"] = (s => SendTextAsync(s, """{"model":"tts-9","voice":"alloy","input":"Hi."}"""), "model", "model_not_found"),
        ["binary JSON request"] = (s => s.SendAsync(Encoding.UTF8.GetBytes("""{"voice":"alloy","input":"Hi."}"""), WebSocketMessageType.Binary, true, CancellationToken.None), null, "invalid_message"),
        ["binary noise"] = (s => s.SendAsync(new byte[] { 0, 0xFF, 0x10, 0x80 }, WebSocketMessageType.Binary, true, CancellationToken.None), null, "invalid_message"),
    };

    [Theory]
    [MemberData(nameof(HttpCases))]
    public async Task Bad_http_request_gets_its_precise_status_and_the_envelope(string name)
    {
        var badCase = BadInputCatalogue.Find(name);
        var result = await SendAsync(badCase);

        Assert.True(badCase.Status == (int)result.Status, $"{name}: expected {badCase.Status}, got {(int)result.Status}: {result.Body}");
        Assert.Equal("application/json", result.MediaType);
        var error = ErrorEnvelopeAssert.IsEnvelope(result.Body);
        ErrorEnvelopeAssert.Says(error, badCase.Type, badCase.Param, badCase.Code);
        if (badCase.Message is { } message)
        {
            Assert.Equal(message, error.GetProperty("message").GetString());
        }

        if (result.Status == HttpStatusCode.MethodNotAllowed)
        {
            Assert.True(result.Allow.Length > 0, "405 without Allow");
        }

        if (badCase.Allow is { } allow)
        {
            Assert.Equal(allow, result.Allow);
        }
    }

    [Theory]
    [MemberData(nameof(WebSocketCases))]
    public async Task Bad_websocket_message_gets_an_error_event_and_the_connection_stays_usable(string path, string name)
    {
        var (send, param, code) = BadWebSocketMessages[name];
        using var socket = await ConnectAsync(path);

        await send(socket);
        var error = await ReceiveEventAsync(socket);
        Assert.Equal(StreamEvent.Failure, error.GetProperty("type").GetString());
        ErrorEnvelopeAssert.Says(ErrorEnvelopeAssert.IsErrorBody(error.GetProperty("error")), param, code);

        var after = await SpeakAsync(socket, """{"voice":"alloy","input":"Still here."}""");
        Assert.Equal(1, after.Sentences);
        Assert.True(after.PcmBytes > 0);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }

    [Theory]
    [MemberData(nameof(WebSocketPathData))]
    public async Task A_websocket_upgrade_with_a_bad_priority_gets_the_same_400_from_gateway_and_backend(string path)
    {
        var upgrade = RawHttp.WebSocketUpgrade(path, MeshHeaders.Priority, "urgent");
        var messages = new List<string?>();
        foreach (var server in new[] { fleet.Gateway.Url, fleet.Backends[0].Url })
        {
            var response = await RawHttp.SendAsync(server, upgrade);

            Assert.True(response.Status == 400, $"{server}: expected 400, got {response.Status}");
            var error = ErrorEnvelopeAssert.IsEnvelope(response.Text);
            ErrorEnvelopeAssert.Says(error, MeshHeaders.Priority, "invalid_value");
            messages.Add(error.GetProperty("message").GetString());
        }

        Assert.Equal(messages[0], messages[1]);
    }

    [Theory]
    [MemberData(nameof(RefusedHandshakeData))]
    public async Task A_get_on_a_websocket_path_that_cannot_be_upgraded_gets_the_same_answer_from_gateway_and_backend(string path, RefusedHandshake handshake)
    {
        (string Head, int Status, string? Param, string Code) expected = handshake switch
        {
            RefusedHandshake.NoUpgrade => ($"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n", 426, null, "websocket_required"),
            // Version 8 is hybi-10's, which some old clients still send.
            RefusedHandshake.OldVersion => (RawHttp.WebSocketHandshake(path, "8", ValidKey), 426, "Sec-WebSocket-Version", "unsupported_websocket_version"),
            // "short" in base64: 5 bytes, where the key must be 16.
            _ => (RawHttp.WebSocketHandshake(path, "13", "c2hvcnQ="), 400, null, "invalid_websocket_handshake"),
        };
        var messages = new List<string?>();
        foreach (var server in new[] { fleet.Gateway.Url, fleet.Backends[0].Url })
        {
            var response = await RawHttp.SendAsync(server, expected.Head);

            Assert.True(response.Status == expected.Status, $"{server}: expected {expected.Status}, got {response.Status}: {response.Text}");
            var error = ErrorEnvelopeAssert.IsEnvelope(response.Text);
            ErrorEnvelopeAssert.Says(error, expected.Param, expected.Code);
            messages.Add(error.GetProperty("message").GetString());
            if (expected.Status == 426)
            {
                // The upgrade the resource requires (RFC 9110 §15.5.22, §7.8) and the version this server speaks (RFC 6455 §4.2.2).
                Assert.Equal("websocket", response.Headers.GetValueOrDefault("Upgrade"));
                Assert.Equal("Upgrade", response.Headers.GetValueOrDefault("Connection"));
                Assert.Equal("13", response.Headers.GetValueOrDefault("Sec-WebSocket-Version"));
            }
            else
            {
                Assert.False(response.Headers.ContainsKey("Upgrade"), $"{server}: a malformed handshake is told to upgrade");
            }
        }

        Assert.Equal(messages[0], messages[1]);
    }

    [Theory]
    [InlineData("OPTIONS", "*", "x")]
    // Kestrel refuses an authority-form request whose Host is not its target (RFC 9112 §3.2.3).
    [InlineData("CONNECT", "example.com:443", "example.com:443")]
    public async Task A_request_target_that_is_no_path_gets_the_same_404_naming_it_from_gateway_and_backend(string method, string target, string host)
    {
        // Asterisk-form and authority-form (RFC 9112 §3.2.4, §3.2.3): the request has no path, so no route serves it.
        foreach (var server in new[] { fleet.Gateway.Url, fleet.Backends[0].Url })
        {
            var response = await RawHttp.SendAsync(server, $"{method} {target} HTTP/1.1\r\nHost: {host}\r\n\r\n");

            Assert.True(response.Status == 404, $"{server}: expected 404, got {response.Status}: {response.Text}");
            Assert.False(response.Headers.ContainsKey("Allow"), $"{server}: Allow offered for a target no method is served on");
            var error = ErrorEnvelopeAssert.IsEnvelope(response.Text);
            ErrorEnvelopeAssert.Says(error, null, "unknown_url");
            Assert.Equal($"No such endpoint: {method} {target}.", error.GetProperty("message").GetString());
        }
    }

    [Theory]
    [InlineData("gzip, chunked")]
    [InlineData("deflate, chunked")]
    public async Task A_body_in_a_transfer_coding_besides_chunked_gets_the_same_415_from_gateway_and_backend(string codings)
    {
        // HttpClient sends no such body; the server takes the chunked framing off and nothing else (RFC 9112 §6.1).
        var coded = new MemoryStream();
        await using (var compressing = codings.StartsWith("gzip", StringComparison.Ordinal)
            ? new GZipStream(coded, CompressionLevel.Fastest, leaveOpen: true)
            : (Stream)new ZLibStream(coded, CompressionLevel.Fastest, leaveOpen: true))
        {
            await compressing.WriteAsync(Encoding.UTF8.GetBytes(BadInputCatalogue.Body()));
        }

        byte[] body = [.. Encoding.ASCII.GetBytes($"{coded.Length:x}\r\n"), .. coded.ToArray(), .. "\r\n0\r\n\r\n"u8];
        var messages = new List<string?>();
        foreach (var server in new[] { fleet.Gateway.Url, fleet.Backends[0].Url })
        {
            var response = await RawHttp.SendAsync(
                server, $"POST {BadInputCatalogue.Speech} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: {codings}\r\n\r\n", body);

            Assert.True(response.Status == 415, $"{server}: expected 415, got {response.Status}: {response.Text}");
            var error = ErrorEnvelopeAssert.IsEnvelope(response.Text);
            ErrorEnvelopeAssert.Says(error, null, "unsupported_transfer_encoding");
            messages.Add(error.GetProperty("message").GetString());
        }

        Assert.Equal(messages[0], messages[1]);
    }

    [Theory]
    [MemberData(nameof(WebSocketPathData))]
    public async Task Oversized_websocket_message_closes_with_1009(string path)
    {
        using var socket = await ConnectAsync(path);

        await SendTextAsync(socket, $$"""{"voice":"alloy","input":"{{new string('a', SpeechRequestParser.MaxBodyBytes)}}"}""");
        var (type, _) = await ReceiveAsync(socket);

        Assert.Equal(WebSocketMessageType.Close, type);
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, socket.CloseStatus);
    }

    [Theory]
    [MemberData(nameof(WebSocketPathData))]
    public async Task Invalid_utf8_in_a_text_frame_closes_with_1007(string path)
    {
        // RFC 6455 makes a text frame that is not UTF-8 fatal to the connection; the server says so with 1007.
        using var socket = await ConnectAsync(path);

        await socket.SendAsync(new byte[] { (byte)'{', 0xC3, 0x28, (byte)'}' }, WebSocketMessageType.Text, true, CancellationToken.None);
        var (type, _) = await ReceiveAsync(socket);

        Assert.Equal(WebSocketMessageType.Close, type);
        Assert.Equal(WebSocketCloseStatus.InvalidPayloadData, socket.CloseStatus);
    }

    [Theory]
    [MemberData(nameof(WebSocketPathData))]
    public async Task Requests_after_done_are_served_on_the_same_connection(string path)
    {
        using var socket = await ConnectAsync(path);

        for (var i = 0; i < 3; i++)
        {
            var result = await SpeakAsync(socket, $$"""{"voice":"alloy","input":"Request {{i}}."}""");
            Assert.Equal(1, result.Sentences);
        }

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }

    [Theory]
    [MemberData(nameof(WebSocketPathData))]
    public async Task Messages_sent_while_a_request_streams_are_answered_in_order_after_it(string path)
    {
        using var socket = await ConnectAsync(path);

        // All three go out before the first audio comes back: one request per connection at a time, the rest queue.
        await SendTextAsync(socket, """{"voice":"alloy","input":"The first request has two sentences. Here is the second."}""");
        await SendTextAsync(socket, "not json");
        await SendTextAsync(socket, """{"voice":"alloy","input":"Second request."}""");

        var events = new List<JsonElement>();
        while (events.Count(e => e.GetProperty("type").GetString() is StreamEvent.Done) < 2)
        {
            var (type, payload) = await ReceiveAsync(socket);
            if (type == WebSocketMessageType.Text)
            {
                using var document = JsonDocument.Parse(payload);
                events.Add(document.RootElement.Clone());
            }
        }

        var kinds = events.Select(e => e.GetProperty("type").GetString()!).ToArray();
        string[] expected = [StreamEvent.Start, StreamEvent.Sentence, StreamEvent.Sentence, StreamEvent.Done, StreamEvent.Failure, StreamEvent.Start, StreamEvent.Sentence, StreamEvent.Done];
        Assert.Equal(expected, kinds);
        Assert.Equal("invalid_json", events[4].GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("Second request.", events[6].GetProperty("text").GetString());
        Assert.NotEqual(events[0].GetProperty("request_id").GetString(), events[5].GetProperty("request_id").GetString());
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }

    [Fact]
    [RunsLast]
    public async Task After_the_catalogue_the_mesh_still_serves()
    {
        using var client = fleet.CreateGatewayClient();
        using var content = new StringContent(
            """{"model":"tts-1","voice":"alloy","input":"The quick brown fox jumps over the lazy dog.","response_format":"pcm"}""", Encoding.UTF8, "application/json");
        using var response = await client.PostAsync(new Uri(BadInputCatalogue.Speech, UriKind.Relative), content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seconds = (await response.Content.ReadAsByteArrayAsync()).Length / 2.0 / OpenAiModels.PcmSampleRate;
        Assert.True(seconds > 1.0, $"{seconds:0.00} s of audio for a whole sentence");

        using var socket = await ConnectAsync("/ws");
        Assert.Equal(1, (await SpeakAsync(socket, """{"voice":"alloy","input":"Fine."}""")).Sentences);

        foreach (var url in fleet.Backends.Select(b => b.Url).Append(fleet.Gateway.Url))
        {
            using var probe = new HttpClient { BaseAddress = url };
            Assert.Equal(HttpStatusCode.OK, (await probe.GetAsync(new Uri("/readyz", UriKind.Relative))).StatusCode);
        }

        Assert.All(fleet.Backends, b => Assert.False(b.HasExited));
        Assert.False(fleet.Gateway.HasExited);
    }

    private async Task<CaseResult> SendAsync(HttpCase badCase)
    {
        var server = badCase.Target == Target.Gateway ? fleet.Gateway.Url : fleet.Backends[0].Url;
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(new HttpMethod(badCase.Method), new Uri(server, badCase.Path));
        if (badCase.Body is { } body)
        {
            request.Content = new ByteArrayContent(body);
            if (badCase.ContentType is { } contentType)
            {
                request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            }
        }

        request.Headers.TransferEncodingChunked = badCase.Chunked ? true : null;
        foreach (var (name, value) in badCase.Headers ?? new Dictionary<string, string>())
        {
            // Content-Encoding belongs to the body's headers, which the request's refuse.
            if (!request.Headers.TryAddWithoutValidation(name, value))
            {
                request.Content?.Headers.TryAddWithoutValidation(name, value);
            }
        }

        using var response = await client.SendAsync(request);
        return new CaseResult(
            response.StatusCode, response.Content.Headers.ContentType?.MediaType, string.Join(", ", response.Content.Headers.Allow), await response.Content.ReadAsStringAsync());
    }

    private async Task<ClientWebSocket> ConnectAsync(string path)
    {
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{fleet.Gateway.Url.Authority}{path}"), CancellationToken.None);
        return socket;
    }

    internal static Task SendTextAsync(ClientWebSocket socket, string text) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>Sends one request and reads its events to <c>done</c>.</summary>
    internal static async Task<(int Sentences, int PcmBytes)> SpeakAsync(ClientWebSocket socket, string request)
    {
        await SendTextAsync(socket, request);
        Assert.Equal(StreamEvent.Start, (await ReceiveEventAsync(socket)).GetProperty("type").GetString());
        var (sentences, pcm) = (0, 0);
        while (true)
        {
            var (type, payload) = await ReceiveAsync(socket);
            if (type == WebSocketMessageType.Binary)
            {
                pcm += payload.Length;
                continue;
            }

            using var document = JsonDocument.Parse(payload);
            switch (document.RootElement.GetProperty("type").GetString())
            {
                case StreamEvent.Sentence:
                    sentences++;
                    break;
                case StreamEvent.Done:
                    return (sentences, pcm);
                case var other:
                    throw new Xunit.Sdk.XunitException($"unexpected event '{other}': {Encoding.UTF8.GetString(payload)}");
            }
        }
    }

    internal static Task<JsonElement> ReceiveEventAsync(ClientWebSocket socket) =>
        WebSocketMessages.ReceiveEventAsync(socket, ReceiveTimeout);

    internal static Task<(WebSocketMessageType Type, byte[] Payload)> ReceiveAsync(ClientWebSocket socket) =>
        WebSocketMessages.ReceiveAsync(socket, ReceiveTimeout);

    private sealed record CaseResult(HttpStatusCode Status, string? MediaType, string Allow, string Body);
}
