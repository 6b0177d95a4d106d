using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Mesh.Contracts;
using Mesh.Gateway.Auth;
using Mesh.Tests.Reliability;

namespace Mesh.Tests.Integration;

/// <summary>
/// The routes match paths in any letter case and with a trailing slash, so the key check, its rate limit and the
/// priority a key may use must hold for every such spelling: against a real gateway with keys and a real backend.
/// </summary>
public sealed class PathSpellingTests(PathSpellingTests.KeyedGateway keyed) : IClassFixture<PathSpellingTests.KeyedGateway>
{
    private const string BatchOnlyKey = "sk-batch-only";
    private const string LimitedKey = "sk-limited";
    private static readonly object TinyRequest = new { model = "tts-1", voice = "alloy", input = "Hi.", response_format = "pcm" };

    [Theory]
    [InlineData("POST", "/V1/audio/speech")]
    [InlineData("POST", "/v1/Audio/Speech/")]
    [InlineData("POST", "/v1/audio/speech/stream/PCM")]
    [InlineData("GET", "/V1/models")]
    [InlineData("GET", "/WS")]
    [InlineData("GET", "/V1/audio/speech/ws/")]
    [InlineData("GET", "/no/such/path")]
    public async Task Every_path_but_the_open_ones_needs_a_key_however_it_is_spelled(string method, string path)
    {
        using var client = new HttpClient { BaseAddress = keyed.Gateway.Url };
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST")
        {
            request.Content = JsonContent.Create(TinyRequest);
        }

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        ErrorEnvelopeAssert.Says(ErrorEnvelopeAssert.IsEnvelope(await response.Content.ReadAsStringAsync()), "authentication_error", null, "missing_api_key");
    }

    [Theory]
    [InlineData("/v1/audio/speech/", "POST")]
    [InlineData("/V1/Models/", "GET, HEAD")]
    [InlineData("/healthz", "GET, HEAD")]
    public async Task A_wrong_method_is_a_405_however_the_path_is_spelled(string path, string allowed)
    {
        using var client = new HttpClient { BaseAddress = keyed.Gateway.Url };
        using var request = new HttpRequestMessage(HttpMethod.Delete, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", BatchOnlyKey);

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal(allowed.Split(", "), response.Content.Headers.Allow);
    }

    [Theory]
    [InlineData("/healthz")]
    [InlineData("/HEALTHZ")]
    [InlineData("/readyz/")]
    [InlineData("/metrics")]
    [InlineData("/")]
    [InlineData("/playground.js")]
    [InlineData("/Playground.css")]
    public async Task Health_metrics_and_the_page_stay_open(string path)
    {
        using var client = new HttpClient { BaseAddress = keyed.Gateway.Url };

        using var response = await client.GetAsync(new Uri(path, UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData(false, "/healthz")]
    [InlineData(false, "/READYZ")]
    [InlineData(false, "/metrics")]
    [InlineData(false, "/")]
    [InlineData(false, "/v1/models")]
    [InlineData(true, "/healthz")]
    [InlineData(true, "/readyz")]
    [InlineData(true, "/v1/audio/voices")]
    [InlineData(true, "/metrics")]
    public async Task Head_is_answered_like_get_without_a_body(bool backend, string path)
    {
        using var client = new HttpClient { BaseAddress = backend ? keyed.Backend.Url : keyed.Gateway.Url };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BatchOnlyKey);

        using var get = await client.GetAsync(new Uri(path, UriKind.Relative));
        using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));

        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(get.Content.Headers.ContentType, head.Content.Headers.ContentType);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData(false, "/healthz", "alive")]
    [InlineData(false, "/readyz", "ready")]
    [InlineData(true, "/healthz", "alive")]
    [InlineData(true, "/readyz", "ready")]
    public async Task Probes_answer_in_plain_text(bool backend, string path, string expected)
    {
        using var client = new HttpClient { BaseAddress = backend ? keyed.Backend.Url : keyed.Gateway.Url };

        using var response = await client.GetAsync(new Uri(path, UriKind.Relative));

        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(expected, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_key_keeps_its_rate_limit_however_the_path_is_spelled()
    {
        using var client = new HttpClient { BaseAddress = keyed.Gateway.Url };

        using var first = await SpeakAsync(client, "/v1/audio/speech", LimitedKey, TinyRequest);
        using var second = await SpeakAsync(client, "/V1/AUDIO/SPEECH/", LimitedKey, TinyRequest);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.NotNull(second.Headers.RetryAfter);
    }

    [Theory]
    [InlineData("/v1/audio/speech")]
    [InlineData("/v1/audio/speech/")]
    [InlineData("/V1/Audio/Speech")]
    public async Task A_key_without_realtime_cannot_raise_a_whole_file_however_the_path_is_spelled(string path)
    {
        using var client = new HttpClient { BaseAddress = keyed.Gateway.Url };

        using var raised = await SpeakAsync(client, path, BatchOnlyKey, new { model = "tts-1", voice = "alloy", input = "Hi.", response_format = "pcm", priority = "realtime" });
        using var batch = await SpeakAsync(client, path, BatchOnlyKey, TinyRequest);

        Assert.Equal(HttpStatusCode.Forbidden, raised.StatusCode);
        ErrorEnvelopeAssert.Says(ErrorEnvelopeAssert.IsEnvelope(await raised.Content.ReadAsStringAsync()), "permission_error", "priority", "priority_not_allowed");
        Assert.Equal(HttpStatusCode.OK, batch.StatusCode);
    }

    [Theory]
    [InlineData("/v1/audio/speech")]
    [InlineData("/V1/Audio/Speech/")]
    public async Task A_key_without_realtime_raising_a_whole_file_by_header_is_told_the_header_is_at_fault(string path)
    {
        using var client = new HttpClient { BaseAddress = keyed.Gateway.Url };

        using var raised = await SpeakAsync(client, path, BatchOnlyKey, TinyRequest, (MeshHeaders.Priority, PriorityClasses.Realtime));

        Assert.Equal(HttpStatusCode.Forbidden, raised.StatusCode);
        ErrorEnvelopeAssert.Says(ErrorEnvelopeAssert.IsEnvelope(await raised.Content.ReadAsStringAsync()), "permission_error", MeshHeaders.Priority, "priority_not_allowed");
    }

    [Fact]
    public async Task A_body_in_another_charset_is_refused_for_it_not_for_the_priority_it_seems_to_ask()
    {
        using var client = new HttpClient { BaseAddress = keyed.Gateway.Url };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech")
        {
            Content = new ByteArrayContent(System.Text.Encoding.Latin1.GetBytes("""{"model":"tts-1","voice":"alloy","input":"Hi.","priority":"realtime"}""")),
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json; charset=iso-8859-1");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", BatchOnlyKey);

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        ErrorEnvelopeAssert.Says(ErrorEnvelopeAssert.IsEnvelope(await response.Content.ReadAsStringAsync()), null, "unsupported_charset");
    }

    private static async Task<HttpResponseMessage> SpeakAsync(HttpClient client, string path, string key, object body, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        foreach (var (name, value) in headers)
        {
            request.Headers.Add(name, value);
        }

        return await client.SendAsync(request);
    }

    /// <summary>One backend behind a gateway with two keys: one that may not use realtime, one whose bucket holds a single request.</summary>
    public sealed class KeyedGateway() : SoloFleet(
        "--Mesh:Auth:Keys:0:Name=batch-only",
        $"--Mesh:Auth:Keys:0:Sha256={ApiKeyStore.HashOf(BatchOnlyKey)}",
        "--Mesh:Auth:Keys:0:AllowRealtime=false",
        "--Mesh:Auth:Keys:1:Name=limited",
        $"--Mesh:Auth:Keys:1:Sha256={ApiKeyStore.HashOf(LimitedKey)}",
        "--Mesh:Auth:Keys:1:RequestsPerSecond=0.001",
        "--Mesh:Auth:Keys:1:Burst=1");
}
