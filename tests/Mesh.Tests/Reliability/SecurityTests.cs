using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using Mesh.Contracts;
using Mesh.Contracts.Http;
using Mesh.Tests.Integration;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;

namespace Mesh.Tests.Reliability;

/// <summary>
/// The server's own limits (header and request line size, slow clients, connection cap), CORS, the WebSocket origin
/// check, and names that look like paths: against the shared fleet and a gateway configured with short timeouts.
/// </summary>
[Collection(MeshFleetDefinition.Name)]
public sealed class SecurityTests(MeshFleet fleet, ConfiguredGateway configured) : IClassFixture<ConfiguredGateway>
{
    private const string EvilOrigin = "http://evil.example";

    // What an HTTP/2 client with prior knowledge sends first (RFC 9113 §3.4), and the GOAWAY frame's size: a 9-byte frame
    // header, then the last stream id and the error code.
    private const string Http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    private const int Http2GoAwayBytes = 9 + 4 + 4;
    private static readonly string[] NotFoundCodes = ["unknown_url", "method_not_allowed"];

    /// <summary>What is wrong with a request head: one byte or line over a configured limit, or a header value that is not UTF-8.</summary>
    public enum HeadFault
    {
        RequestLine,
        HeaderBytes,
        HeaderCount,
        NotUtf8,
    }

    public static TheoryData<string> WebSocketPaths => new(["/ws", "/v1/audio/speech/ws"]);

    public static TheoryData<Target, HeadFault> HeadFaults => HeadCases(Enum.GetValues<HeadFault>());

    public static TheoryData<Target, HeadFault> HeadLimitFaults => HeadCases([HeadFault.RequestLine, HeadFault.HeaderBytes, HeadFault.HeaderCount]);

    [Fact]
    public void Limits_in_appsettings_are_the_documented_ones()
    {
        var gateway = LimitsOf("gateway/Mesh.Gateway/appsettings.json");
        var backend = LimitsOf("backends/onnx-cuda/Mesh.Backend.Host/appsettings.json");

        Assert.Equal((16 * 1024, 4096, 4096L, 1024L), (gateway.MaxRequestHeadersTotalSize, gateway.MaxRequestLineSize, gateway.MaxConcurrentConnections, gateway.MaxConcurrentUpgradedConnections));
        Assert.Equal((TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(1)), (gateway.RequestHeadersTimeout, gateway.KeepAliveTimeout));
        Assert.Equal((1024.0, TimeSpan.FromSeconds(5)), (gateway.MinRequestBodyDataRate!.BytesPerSecond, gateway.MinRequestBodyDataRate.GracePeriod));
        // Behind the gateway, room for what the gateway let through, and idle connections outlive the gateway's pool (60 s).
        Assert.True(backend.MaxRequestHeadersTotalSize > gateway.MaxRequestHeadersTotalSize && backend.MaxRequestLineSize > gateway.MaxRequestLineSize);
        Assert.True(backend.KeepAliveTimeout > TimeSpan.FromMinutes(1));
        Assert.Equal(TimeSpan.FromSeconds(10), backend.RequestHeadersTimeout);
        Assert.Equal(1024.0, backend.MinRequestBodyDataRate!.BytesPerSecond);
    }

    [Fact]
    public void An_unknown_limit_name_fails_the_start()
    {
        var section = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Kestrel:Limits:MaxRequestHeaderTotalSize"] = "1" })
            .Build().GetSection(ServerLimits.Section);

        Assert.Throws<InvalidOperationException>(() => ServerLimits.Apply(section, new KestrelServerLimits()));
    }

    [Theory]
    [MemberData(nameof(HeadFaults))]
    public async Task A_head_over_a_configured_limit_gets_its_status_and_the_envelope_and_is_counted(Target target, HeadFault fault)
    {
        var limits = HeadLimitsOf(target);
        (int Status, string? Param, string Code, string[] Said) expected = fault switch
        {
            HeadFault.RequestLine => (414, null, "request_line_too_long", [$"{limits.MaxRequestLineSize + 1} bytes", $"{limits.MaxRequestLineSize} bytes"]),
            HeadFault.HeaderBytes => (431, null, "request_headers_too_large", [$"{limits.MaxRequestHeadersTotalSize + 1} bytes", $"{limits.MaxRequestHeadersTotalSize} bytes"]),
            HeadFault.HeaderCount => (431, null, "request_headers_too_large", [$"{limits.MaxRequestHeaderCount + 1} header lines", $"is {limits.MaxRequestHeaderCount}."]),
            _ => (400, "X-Filler", "invalid_encoding", ["byte 1 (0xC3)"]),
        };
        var counted = await RefusalsCountedAsync(target, expected.Status);

        var response = await RawHttp.SendAsync(UrlOf(target), Head(limits, fault, over: true));

        Assert.Equal(expected.Status, response.Status);
        Assert.True(response.Headers.ContainsKey(MeshHeaders.RequestId), "no X-Request-Id");
        var error = ErrorEnvelopeAssert.IsEnvelope(response.Text);
        ErrorEnvelopeAssert.Says(error, expected.Param, expected.Code);
        Assert.All(expected.Said, words => Assert.Contains(words, error.GetProperty("message").GetString(), StringComparison.Ordinal));
        // The gateway counts once the answer is written, a moment after the client has it.
        await Eventually.UntilAsync(async () => await RefusalsCountedAsync(target, expected.Status) == counted + 1, $"the {expected.Status} was not counted once");
    }

    [Theory]
    [MemberData(nameof(HeadLimitFaults))]
    public async Task A_head_at_a_configured_limit_is_served(Target target, HeadFault fault)
    {
        var response = await RawHttp.SendAsync(UrlOf(target), Head(HeadLimitsOf(target), fault, over: false));

        Assert.True(response.Status == 200, $"{fault} at the limit: {response.Status} {response.Text}");
    }

    [Fact]
    public async Task A_speech_request_with_as_many_header_lines_as_the_gateway_takes_is_served_by_its_backend()
    {
        // The gateway forwards the request with headers of its own (X-Forwarded-*, traceparent, X-Request-Id, X-Priority),
        // which the backend's limit must leave room for.
        var body = Encoding.UTF8.GetBytes(BadInputCatalogue.Body());
        const string Head = "POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
        var fillers = HeadLimitsOf(Target.Gateway).MaxRequestHeaderCount - 3;

        var response = await RawHttp.SendAsync(
            UrlOf(Target.Gateway),
            $"{Head}{string.Concat(Enumerable.Range(1, fillers).Select(i => $"X-Filler-{i}: a\r\n"))}Content-Length: {body.Length}\r\n\r\n",
            body);

        Assert.True(response.Status == 200, $"{response.Status} {response.Text}");
    }

    [Theory]
    [InlineData(Target.Gateway)]
    [InlineData(Target.Backend)]
    public async Task A_utf8_header_value_reaches_the_api_as_the_text_it_encodes(Target target)
    {
        var body = Encoding.UTF8.GetBytes(BadInputCatalogue.Body());
        var priority = Encoding.Latin1.GetString(Encoding.UTF8.GetBytes("\u00FCrgent"));

        var response = await RawHttp.SendAsync(
            UrlOf(target),
            $"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nX-Priority: {priority}\r\n\r\n",
            body);

        Assert.Equal(400, response.Status);
        var error = ErrorEnvelopeAssert.IsEnvelope(response.Text);
        ErrorEnvelopeAssert.Says(error, MeshHeaders.Priority, "invalid_value");
        Assert.Contains("'\u00FCrgent'", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Target.Gateway)]
    [InlineData(Target.Backend)]
    public async Task Http2_with_prior_knowledge_is_told_to_use_http1(Target target)
    {
        // Every head is then an HTTP/1.1 one, which RequestHeadLimits counts as Kestrel does; HTTP/2's HPACK-coded heads
        // are counted otherwise, and would need checks of their own before h2c were served.
        await using var connection = await RawHttp.ConnectAsync(UrlOf(target));
        await connection.WriteAsync(Http2Preface);

        var frame = await connection.ReadExactlyAsync(Http2GoAwayBytes, TimeSpan.FromSeconds(10));

        // GOAWAY (type 7) whose error code, its payload's last four bytes, is HTTP_1_1_REQUIRED (RFC 9113 §6.8, §7).
        Assert.Equal((7, 0xdu), (frame[3], BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(Http2GoAwayBytes - 4))));
    }

    [Theory]
    [InlineData(Target.Gateway)]
    [InlineData(Target.Backend)]
    public async Task An_h2c_upgrade_is_ignored_and_the_request_answered_over_http1(Target target)
    {
        // RFC 7540 §3.2's upgrade, which RFC 9113 §3.1 retired: a server that does not take it answers the request as is.
        var response = await RawHttp.SendAsync(
            UrlOf(target),
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n");

        Assert.Equal(200, response.Status);
        Assert.False(response.Headers.ContainsKey("Upgrade"), $"{target} offered to upgrade: {response.Headers.GetValueOrDefault("Upgrade")}");
    }

    [Fact]
    public async Task Headers_under_the_gateway_limit_pass_through_to_the_backend()
    {
        using var client = fleet.CreateGatewayClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech")
        {
            Content = new StringContent(BadInputCatalogue.Body(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Filler", new string('a', 14 * 1024));

        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Slow_loris_headers_are_cut_off_while_others_are_served()
    {
        var gateway = await configured.StartAsync(fleet);
        await using var slow = await RawHttp.ConnectAsync(gateway.Url);
        var stopwatch = Stopwatch.StartNew();
        await slow.WriteAsync("GET /healthz HTTP/1.1\r\nHost: x\r\n");

        // One header line every 200 ms never completes the head; the server's timeout is 1 s.
        var trickle = TrickleAsync(slow, "X-Slow: b\r\n", TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10));
        using (var client = new HttpClient { BaseAddress = gateway.Url })
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode);
        }

        Assert.True(await slow.IsClosedByServerAsync(TimeSpan.FromSeconds(8)), "the slow client is still connected");
        // Cut by the 1 s timeout (Kestrel checks it once a second), long before the 10 s trickle would end; the upper
        // bound leaves room for a busy test machine.
        Assert.InRange(stopwatch.Elapsed.TotalSeconds, 0.9, 6.0);
        await trickle;
    }

    [Fact]
    public async Task A_body_trickled_below_the_minimum_rate_is_cut_off()
    {
        var gateway = await configured.StartAsync(fleet);
        await using var slow = await RawHttp.ConnectAsync(gateway.Url);
        var stopwatch = Stopwatch.StartNew();
        await slow.WriteAsync("POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{");

        // 5 bytes a second against a floor of 1000 after a 2 s grace period.
        var trickle = TrickleAsync(slow, " ", TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(15));
        var response = await slow.ReadResponseAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(408, response.Status);
        ErrorEnvelopeAssert.Says(ErrorEnvelopeAssert.IsEnvelope(response.Text), null, "request_timeout");
        Assert.True(await slow.IsClosedByServerAsync(TimeSpan.FromSeconds(5)), "the slow client is still connected");
        Assert.InRange(stopwatch.Elapsed.TotalSeconds, 1.9, 7.0);
        await trickle;
    }

    [Fact]
    public async Task Connections_beyond_the_cap_are_refused_and_the_gateway_recovers()
    {
        var gateway = await configured.StartAsync(fleet);
        var connections = new List<RawHttp>();
        try
        {
            for (var i = 0; i < ConfiguredGateway.MaxConnections + 4; i++)
            {
                connections.Add(await RawHttp.ConnectAsync(gateway.Url));
            }

            var answers = await Task.WhenAll(connections.Select(async connection =>
            {
                try
                {
                    await connection.WriteAsync("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
                    return (await connection.ReadResponseAsync(TimeSpan.FromSeconds(10))).Status;
                }
                catch (IOException)
                {
                    return 0;
                }
            }));

            Assert.InRange(answers.Count(status => status == 200), 1, ConfiguredGateway.MaxConnections);
            Assert.True(answers.Count(status => status == 0) >= 4, $"refused: {answers.Count(status => status == 0)}");
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }

        using var client = new HttpClient { BaseAddress = gateway.Url };
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (true)
        {
            try
            {
                Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode);
                break;
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }

    [Theory]
    [InlineData("/v1/audio/speech", "POST")]
    [InlineData("/v1/audio/speech/stream/pcm", "POST")]
    [InlineData("/v1/models", "GET")]
    public async Task Cors_is_off_unless_configured(string path, string method)
    {
        foreach (var origin in new[] { EvilOrigin, ConfiguredGateway.AllowedOrigin })
        {
            var preflight = await PreflightAsync(fleet.Gateway.Url, path, origin, method);
            Assert.False(preflight.Headers.ContainsKey("Access-Control-Allow-Origin"), $"preflight from {origin} allowed");
        }

        using var client = fleet.CreateGatewayClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        request.Headers.Add("Origin", EvilOrigin);
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task Configured_cors_allows_its_origins_only()
    {
        var gateway = await configured.StartAsync(fleet);

        var allowed = await PreflightAsync(gateway.Url, "/v1/audio/speech", ConfiguredGateway.AllowedOrigin, "POST");
        Assert.Equal(204, allowed.Status);
        Assert.Equal(ConfiguredGateway.AllowedOrigin, allowed.Headers["Access-Control-Allow-Origin"]);
        Assert.Contains("POST", allowed.Headers["Access-Control-Allow-Methods"], StringComparison.Ordinal);
        Assert.Contains("authorization", allowed.Headers["Access-Control-Allow-Headers"], StringComparison.OrdinalIgnoreCase);

        var refused = await PreflightAsync(gateway.Url, "/v1/audio/speech", EvilOrigin, "POST");
        Assert.False(refused.Headers.ContainsKey("Access-Control-Allow-Origin"));

        using var client = new HttpClient { BaseAddress = gateway.Url };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech")
        {
            Content = new StringContent(BadInputCatalogue.Body(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Origin", ConfiguredGateway.AllowedOrigin);
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(ConfiguredGateway.AllowedOrigin, response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Contains(MeshHeaders.Backend, string.Join(",", response.Headers.GetValues("Access-Control-Expose-Headers")), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task An_allowed_origin_may_send_the_headers_the_official_sdk_adds_in_a_browser()
    {
        var gateway = await configured.StartAsync(fleet);

        // What openai 6.49 (tests/node) sends from a page with dangerouslyAllowBrowser, as Chromium preflights it; a
        // header left out of Access-Control-Allow-Headers fails every call of the SDK with "Connection error".
        string[] sdkHeaders =
        [
            "authorization", "content-type", "openai-organization", "openai-project", "x-stainless-arch", "x-stainless-lang",
            "x-stainless-os", "x-stainless-package-version", "x-stainless-retry-count", "x-stainless-runtime",
            "x-stainless-runtime-version", "x-stainless-timeout",
        ];
        var preflight = await PreflightAsync(gateway.Url, "/v1/audio/speech", ConfiguredGateway.AllowedOrigin, "POST", sdkHeaders);

        Assert.Equal(204, preflight.Status);
        Assert.Equal(ConfiguredGateway.AllowedOrigin, preflight.Headers["Access-Control-Allow-Origin"]);
        var allowed = preflight.Headers["Access-Control-Allow-Headers"].Split(',', StringSplitOptions.TrimEntries);
        Assert.All(sdkHeaders, header => Assert.Contains(header, allowed, StringComparer.OrdinalIgnoreCase));

        var refused = await PreflightAsync(gateway.Url, "/v1/audio/speech", EvilOrigin, "POST", sdkHeaders);
        Assert.False(refused.Headers.ContainsKey("Access-Control-Allow-Origin"));
        Assert.False(refused.Headers.ContainsKey("Access-Control-Allow-Headers"));
    }

    [Fact]
    public async Task A_cors_origin_with_a_path_fails_the_start()
    {
        var start = () => MeshFleet.StartGatewayAsync(fleet.Backends.Select(b => b.Url), "--Mesh:Cors:AllowedOrigins:0=http://app.example/page");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(start);
        Assert.Contains("Every origin of Mesh:Cors:AllowedOrigins must be scheme://host[:port]", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(WebSocketPaths))]
    public async Task A_browser_upgrade_from_a_foreign_origin_gets_403_and_the_envelope(string path)
    {
        var response = await RawHttp.SendAsync(fleet.Gateway.Url, Upgrade(path, EvilOrigin));

        Assert.Equal(403, response.Status);
        var error = ErrorEnvelopeAssert.IsEnvelope(response.Text);
        ErrorEnvelopeAssert.Says(error, "permission_error", "Origin", "origin_not_allowed");
    }

    [Theory]
    [MemberData(nameof(WebSocketPaths))]
    public async Task Same_origin_and_configured_origins_may_open_a_websocket(string path)
    {
        var gateway = await configured.StartAsync(fleet);
        foreach (var (server, origin) in new[] { (fleet.Gateway.Url, $"http://{fleet.Gateway.Url.Authority}"), (gateway.Url, ConfiguredGateway.AllowedOrigin) })
        {
            using var socket = new ClientWebSocket();
            socket.Options.SetRequestHeader("Origin", origin);
            await socket.ConnectAsync(new Uri($"ws://{server.Authority}{path}"), CancellationToken.None);
            Assert.Equal(1, (await BadInputCatalogueTests.SpeakAsync(socket, """{"voice":"alloy","input":"Allowed."}""")).Sentences);
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }

        // A configured origin is only allowed where it is configured.
        Assert.Equal(403, (await RawHttp.SendAsync(fleet.Gateway.Url, Upgrade(path, ConfiguredGateway.AllowedOrigin))).Status);
        Assert.Equal(403, (await RawHttp.SendAsync(gateway.Url, Upgrade(path, EvilOrigin))).Status);
    }

    [Theory]
    [InlineData(Target.Gateway, "/../../etc/passwd")]
    [InlineData(Target.Gateway, "/%2e%2e/%2e%2e/etc/passwd")]
    [InlineData(Target.Gateway, "/playground.js/../../../../etc/passwd")]
    [InlineData(Target.Gateway, "/v1/audio/voices/..%2f..%2f..%2fetc%2fpasswd")]
    [InlineData(Target.Gateway, "//etc/passwd")]
    [InlineData(Target.Gateway, "/v1/audio/speech/..%2f..%2f..%2fetc%2fpasswd")]
    [InlineData(Target.Backend, "/../../etc/passwd")]
    [InlineData(Target.Backend, "/v1/audio/voices/..%2f..%2fetc%2fpasswd")]
    public async Task Path_traversal_gets_a_404_envelope_not_a_file(Target target, string path)
    {
        var response = await RawHttp.SendAsync(UrlOf(target), $"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        Assert.True(response.Status is 404 or 405, $"{path}: {response.Status}");
        var error = ErrorEnvelopeAssert.IsEnvelope(response.Text);
        Assert.Contains(error.GetProperty("code").GetString(), NotFoundCodes);
        Assert.DoesNotContain("root:", response.Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("voice", "voice_not_found")]
    [InlineData("model", "model_not_found")]
    [InlineData("language", "voice_not_found")]
    public async Task A_name_that_is_the_path_of_a_real_file_is_not_read(string field, string code)
    {
        // A real, readable file: if a lookup ever went to disk, its content could leak or it would be loaded.
        var directory = Directory.CreateTempSubdirectory("mesh-security-");
        try
        {
            var file = Path.Combine(directory.FullName, "alloy.bin");
            var secret = $"secret-{Guid.NewGuid():N}";
            await File.WriteAllTextAsync(file, secret);
            var fields = new Dictionary<string, string> { ["model"] = "tts-1", ["voice"] = "alloy", ["input"] = "Hi.", [field] = file };

            using var client = fleet.CreateGatewayClient();
            using var content = new StringContent(System.Text.Json.JsonSerializer.Serialize(fields), Encoding.UTF8, "application/json");
            using var response = await client.PostAsync(new Uri("/v1/audio/speech", UriKind.Relative), content);
            var body = await response.Content.ReadAsStringAsync();

            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            ErrorEnvelopeAssert.Says(ErrorEnvelopeAssert.IsEnvelope(body), field, code);
            Assert.DoesNotContain(secret, body, StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private Uri UrlOf(Target target) => target == Target.Gateway ? fleet.Gateway.Url : fleet.Backends[0].Url;

    private static RequestHeadLimits HeadLimitsOf(Target target) =>
        RequestHeadLimits.Of(LimitsOf(target == Target.Gateway ? "gateway/Mesh.Gateway/appsettings.json" : "backends/onnx-cuda/Mesh.Backend.Host/appsettings.json"));

    private static TheoryData<Target, HeadFault> HeadCases(HeadFault[] faults)
    {
        var data = new TheoryData<Target, HeadFault>();
        foreach (var target in Enum.GetValues<Target>())
        {
            foreach (var fault in faults)
            {
                data.Add(target, fault);
            }
        }

        return data;
    }

    /// <summary>
    /// A <c>GET /v1/models</c> head that is exactly at the limit <paramref name="fault"/> names, or one byte or header line
    /// over it (each line counted with its CRLF, as Kestrel counts them); for <see cref="HeadFault.NotUtf8"/>, a header
    /// value with the byte 0xC3 followed by one that cannot continue it.
    /// </summary>
    private static string Head(RequestHeadLimits limits, HeadFault fault, bool over)
    {
        const string Host = "Host: x\r\n";
        var extra = over ? 1 : 0;
        return fault switch
        {
            HeadFault.RequestLine =>
                $"GET /v1/models?{new string('a', limits.MaxRequestLineSize + extra - "GET /v1/models? HTTP/1.1\r\n".Length)} HTTP/1.1\r\n{Host}\r\n",
            HeadFault.HeaderBytes =>
                $"GET /v1/models HTTP/1.1\r\n{Host}X-Filler: {new string('a', limits.MaxRequestHeadersTotalSize + extra - Host.Length - "X-Filler: \r\n".Length)}\r\n\r\n",
            HeadFault.HeaderCount =>
                $"GET /v1/models HTTP/1.1\r\n{Host}{string.Concat(Enumerable.Range(1, limits.MaxRequestHeaderCount - 1 + extra).Select(i => $"X-Filler-{i}: a\r\n"))}\r\n",
            _ => $"GET /v1/models HTTP/1.1\r\n{Host}X-Filler: a\u00C3(\r\n\r\n",
        };
    }

    /// <summary>Head refusals of <paramref name="status"/> counted: at the gateway unrouted (variant, pool and priority <c>none</c>), at the backend of no priority.</summary>
    private async Task<double> RefusalsCountedAsync(Target target, int status)
    {
        using var client = new HttpClient { BaseAddress = UrlOf(target) };
        var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        return MetricsText.Sum(metrics, "mesh_requests_total{", $"priority=\"none\",code=\"{status}\"");
    }

    private static KestrelServerLimits LimitsOf(string appsettings)
    {
        var configuration = new ConfigurationBuilder().AddJsonFile(Path.Combine(RepoPaths.Root, appsettings)).Build();
        var limits = new KestrelServerLimits();
        ServerLimits.Apply(configuration.GetSection(ServerLimits.Section), limits);
        return limits;
    }

    private static Task<RawResponse> PreflightAsync(Uri server, string path, string origin, string method, IEnumerable<string>? headers = null) =>
        RawHttp.SendAsync(
            server,
            $"OPTIONS {path} HTTP/1.1\r\nHost: {server.Authority}\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: {method}\r\n" +
            $"Access-Control-Request-Headers: {string.Join(',', headers ?? ["authorization", "content-type"])}\r\nConnection: close\r\n\r\n");

    private static string Upgrade(string path, string origin) => RawHttp.WebSocketUpgrade(path, "Origin", origin);

    /// <summary>Writes <paramref name="piece"/> every <paramref name="interval"/> until the server closes or the time is up.</summary>
    private static async Task TrickleAsync(RawHttp connection, string piece, TimeSpan interval, TimeSpan limit)
    {
        var stopwatch = Stopwatch.StartNew();
        try
        {
            while (stopwatch.Elapsed < limit)
            {
                await Task.Delay(interval);
                await connection.WriteAsync(piece);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // Cut off, as intended.
        }
    }
}
