using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Mesh.Contracts;
using Mesh.ModelGeneration;
using Mesh.Tests.Integration;

namespace Mesh.Tests.Observability;

/// <summary>
/// A fleet built so that every series has something to say, watched by a real Prometheus with the repository's
/// configuration and rules. Two real backends serve variants <c>a</c> (the built-in espeak voice) and <c>b</c> (a
/// generated Piper model on ONNX Runtime's CPU provider, so the ONNX engine's series have something to say too, and
/// the A/B dashboard compares two engines as operators would compare two models); variant a's pool also holds a
/// backend that refuses every request, so the gateway retries and ejects, and that backend is all of variant c's
/// pool, whose requests therefore fail with 503; variant b's pool is discovered, a host name the gateway resolves
/// (from a hosts file standing in for DNS) to b's backend; the gateway requires an API key and has a
/// single batch slot with no batch queue, so overlapping batch requests are shed. Traffic over every surface (whole
/// file, OpenAI SSE, sentence SSE, PCM stream, WebSocket), errors, a bad key and cancelled streams runs once, in
/// rounds a second apart; the tests read what it left in the processes and in Prometheus.
/// </summary>
public sealed class ObservedFleet : IAsyncLifetime
{
    public const string ApiKey = "mesh-observability-test-key";
    private const string DiscoveredHost = "obs-b.mesh.test";
    private const int Rounds = 8;
    private const string TwoSentences = "Metrics are numbers with names. Dashboards make them pictures.";
    private const string Paragraph =
        "The gateway admits each request in its priority class. A backend splits the text into sentences. " +
        "Each sentence waits for a worker, which synthesizes it. The audio is encoded and streamed as it is made. " +
        "Prometheus scrapes every process once a second. Rules turn the series into figures, and alerts watch them.";

    private readonly string _directory = Directory.CreateTempSubdirectory("mesh-observed-").FullName;
    private readonly List<HostProcess> _backends = [];
    private InProcessBackend? _refusing;

    public HostProcess Gateway { get; private set; } = null!;

    private string HostsFile => Path.Combine(_directory, "hosts");

    public IReadOnlyList<HostProcess> Backends => _backends;

    public PrometheusServer Prometheus { get; private set; } = null!;

    /// <summary>The window the traffic ran in, with a little quiet before and after.</summary>
    public DateTimeOffset Start { get; private set; }

    public DateTimeOffset End { get; private set; }

    /// <summary>The gateway's and the backends' <c>/metrics</c> right after the traffic.</summary>
    public MetricsScrape GatewayScrape { get; private set; } = null!;

    /// <summary>Variant a's backend: the built-in espeak voice.</summary>
    public MetricsScrape EspeakBackendScrape { get; private set; } = null!;

    /// <summary>Variant b's backend: an ONNX model.</summary>
    public MetricsScrape OnnxBackendScrape { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        ModelGenerator.Generate(_directory, [ModelGenerator.PiperTiny]);
        var onnxModel = new Dictionary<string, string> { ["MODEL"] = Path.Combine(_directory, ModelGenerator.PiperTiny), ["EXECUTION_PROVIDER"] = "cpu" };
        _backends.AddRange(await Task.WhenAll(
            HostProcess.StartAsync(RepoPaths.BackendDll, ["--Backend:Name=obs-a1", "--Backend:Variant=a"]),
            HostProcess.StartAsync(RepoPaths.BackendDll, ["--Backend:Name=obs-b1", "--Backend:Variant=b"], onnxModel)));
        _refusing = await RefusingBackend.StartAsync();
        await File.WriteAllTextAsync(HostsFile, $"{_backends[1].Url.Host} {DiscoveredHost}\n");
        Gateway = await HostProcess.StartAsync(RepoPaths.GatewayDll, GatewayArgs());
        foreach (var backend in _backends)
        {
            await backend.WaitReadyAsync(TimeSpan.FromSeconds(60));
        }

        await Gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));

        var targets = Directory.CreateDirectory(Path.Combine(_directory, "targets")).FullName;
        PrometheusServer.WriteTargets(Path.Combine(targets, "gateway.json"), [(Gateway.Url, new Dictionary<string, string>())]);
        PrometheusServer.WriteTargets(Path.Combine(targets, "backends.json"), [
            (_backends[0].Url, new Dictionary<string, string> { ["backend"] = "obs-a1", ["variant"] = "a", ["pool"] = "shared" }),
            (_backends[1].Url, new Dictionary<string, string> { ["backend"] = "obs-b1", ["variant"] = "b", ["pool"] = "shared" }),
        ]);
        Prometheus = await PrometheusServer.StartAsync(_directory, PrometheusServer.ConfigFor(targets, "1s"));
        await Prometheus.WaitForTargetsUpAsync(3, TimeSpan.FromSeconds(30));

        using (var client = new HttpClient { BaseAddress = Gateway.Url, Timeout = TimeSpan.FromSeconds(60) })
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
            Start = DateTimeOffset.UtcNow.AddSeconds(-3);
            for (var round = 0; round < Rounds; round++)
            {
                await RunRoundAsync(client, round);
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
        }

        GatewayScrape = MetricsScrape.Parse(await ScrapeAsync(Gateway.Url));
        EspeakBackendScrape = MetricsScrape.Parse(await ScrapeAsync(_backends[0].Url));
        OnnxBackendScrape = MetricsScrape.Parse(await ScrapeAsync(_backends[1].Url));
        await WaitUntilScrapedAsync();
        End = DateTimeOffset.UtcNow;
    }

    public async Task DisposeAsync()
    {
        if (Prometheus is not null)
        {
            await Prometheus.DisposeAsync();
        }

        if (Gateway is not null)
        {
            await Gateway.DisposeAsync();
        }

        foreach (var backend in _backends)
        {
            await backend.DisposeAsync();
        }

        if (_refusing is not null)
        {
            await _refusing.DisposeAsync();
        }

        Directory.Delete(_directory, recursive: true);
    }

    private IEnumerable<string> GatewayArgs()
    {
        var keyHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ApiKey)));
        return MeshFleet.FleetArgs(0, "obs-a1", _backends[0].Url, "shared", "a")
            .Concat(MeshFleet.FleetArgs(1, "obs-refusing", _refusing!.Url, "shared", "a"))
            .Concat(MeshFleet.FleetArgs(2, "obs-b1", new Uri($"http://{DiscoveredHost}:{_backends[1].Url.Port}/"), "shared", "b"))
            .Concat(MeshFleet.FleetArgs(3, "obs-refusing-c", _refusing.Url, "shared", "c"))
            .Concat([
                "--Mesh:Fleet:Backends:2:Discover=true",
                $"--Mesh:Discovery:HostsFile={HostsFile}",
                "--Mesh:Variants:Weights:a=50",
                "--Mesh:Variants:Weights:b=50",
                // One batch slot and no batch queue: a second concurrent batch request is shed.
                "--Mesh:Admission:TotalConcurrency=2",
                "--Mesh:Admission:RealtimeReserved=1",
                "--Mesh:Admission:Batch:MaxQueue=0",
                "--Mesh:Admission:Realtime:QueueTimeoutMs=30000",
                // Every refusal ejects the refusing backend, for a second.
                "--Mesh:Health:ConsecutiveFailures=1",
                "--Mesh:Health:ReactivationSeconds=1",
                "--Mesh:Auth:Keys:0:Name=observability",
                $"--Mesh:Auth:Keys:0:Sha256={keyHash}",
                "--Mesh:Auth:Keys:0:RequestsPerSecond=1000",
                "--Mesh:Auth:Keys:0:Burst=1000",
            ]);
    }

    private async Task RunRoundAsync(HttpClient client, int round)
    {
        foreach (var variant in new[] { "a", "b" })
        {
            await ExpectAsync(HttpStatusCode.OK, SpeakAsync(client, "/v1/audio/speech", variant, new { model = "tts-1", voice = "alloy", input = TwoSentences, response_format = "wav" }));
            await ExpectAsync(HttpStatusCode.OK, SpeakAsync(client, "/v1/audio/speech", variant, new { model = "tts-1", voice = "nova", input = TwoSentences, response_format = "pcm", stream_format = "sse" }));
            await ExpectAsync(HttpStatusCode.OK, SpeakAsync(client, "/v1/audio/speech/stream", variant, new { model = "tts-1", voice = "alloy", input = TwoSentences }));
            await ExpectAsync(HttpStatusCode.OK, SpeakAsync(client, "/v1/audio/speech/stream/pcm", variant, new { model = "tts-1", voice = "onyx", input = TwoSentences }));
            await ExpectAsync(HttpStatusCode.NotFound, SpeakAsync(client, "/v1/audio/speech", variant, new { model = "tts-1", voice = "no-such-voice", input = "Hello." }));
        }

        // Variant c has no weight (only a forced request reaches it) and no other backend to retry on.
        await ExpectAsync(HttpStatusCode.ServiceUnavailable, SpeakAsync(client, "/v1/audio/speech", "c", new { model = "tts-1", voice = "alloy", input = TwoSentences }));

        // The WebSocket goes to variant b, whose pool has no refusing backend: the gateway's failover does not support
        // replaying an upgrade request on another backend.
        await WebSocketAsync("b");
        await CancelledStreamAsync(client, round % 2 == 0 ? "a" : "b");
        if (round == 1)
        {
            using var request = SpeechRequest("/v1/audio/speech", "a", new { model = "tts-1", voice = "alloy", input = "Hello." });
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "not-a-key");
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        if (round == 2)
        {
            var burst = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ =>
                SpeakAsync(client, "/v1/audio/speech", "b", new { model = "tts-1", voice = "alloy", input = Paragraph, response_format = "wav" })));
            Assert.Contains(HttpStatusCode.TooManyRequests, burst);
            Assert.Contains(HttpStatusCode.OK, burst);
        }
    }

    private static async Task ExpectAsync(HttpStatusCode expected, Task<HttpStatusCode> request) => Assert.Equal(expected, await request);

    private static HttpRequestMessage SpeechRequest(string path, string variant, object body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        request.Headers.Add(MeshHeaders.Variant, variant);
        return request;
    }

    private static async Task<HttpStatusCode> SpeakAsync(HttpClient client, string path, string variant, object body)
    {
        using var request = SpeechRequest(path, variant, body);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await response.Content.CopyToAsync(Stream.Null);
        return response.StatusCode;
    }

    /// <summary>Starts a long PCM stream, reads its first audio, and leaves.</summary>
    private static async Task CancelledStreamAsync(HttpClient client, string variant)
    {
        using var request = SpeechRequest("/v1/audio/speech/stream/pcm", variant, new { model = "tts-1", voice = "alloy", input = Paragraph + " " + Paragraph });
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var body = await response.Content.ReadAsStreamAsync();
        Assert.True(await body.ReadAsync(new byte[4096]) > 0, "no audio before cancelling");
    }

    private async Task WebSocketAsync(string variant)
    {
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", "Bearer " + ApiKey);
        socket.Options.SetRequestHeader(MeshHeaders.Variant, variant);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await socket.ConnectAsync(new Uri($"ws://{Gateway.Url.Authority}/ws"), timeout.Token);
        var message = JsonSerializer.Serialize(new { model = "tts-1", voice = "alloy", input = TwoSentences });
        await socket.SendAsync(Encoding.UTF8.GetBytes(message), WebSocketMessageType.Text, true, timeout.Token);
        var buffer = new byte[64 * 1024];
        using var text = new MemoryStream();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, timeout.Token);
            if (result.MessageType != WebSocketMessageType.Text)
            {
                continue;
            }

            text.Write(buffer, 0, result.Count);
            if (!result.EndOfMessage)
            {
                continue;
            }

            using var document = JsonDocument.Parse(text.ToArray());
            text.SetLength(0);
            var type = document.RootElement.GetProperty("type").GetString();
            Assert.NotEqual(StreamEvent.Failure, type);
            if (type == StreamEvent.Done)
            {
                break;
            }
        }

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
    }

    private static async Task<string> ScrapeAsync(Uri url)
    {
        using var client = new HttpClient { BaseAddress = url };
        return await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
    }

    /// <summary>Waits until Prometheus holds the gateway's final request count, then for two more rule evaluations.</summary>
    private async Task WaitUntilScrapedAsync()
    {
        var expected = await GatewayRequestCountAsync();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            var result = (await Prometheus.QueryAsync("sum(mesh_requests_total{job=\"mesh-gateway\"})", DateTimeOffset.UtcNow)).GetProperty("result");
            if (result.GetArrayLength() == 1 &&
                double.Parse(result[0].GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture) >= expected)
            {
                await Task.Delay(TimeSpan.FromSeconds(2.5));
                return;
            }

            await Task.Delay(250);
        }

        throw new TimeoutException($"Prometheus did not catch up with the gateway's {expected} requests:\n{Prometheus.Output}");
    }

    private async Task<double> GatewayRequestCountAsync() => MetricsText.Sum(await ScrapeAsync(Gateway.Url), "mesh_requests_total{");
}
