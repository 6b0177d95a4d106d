using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Mesh.Contracts;
using Mesh.Gateway.Auth;
using Mesh.Tests.Reliability;

namespace Mesh.Tests.Integration;

/// <summary><c>mesh_requests_total</c> at a real gateway in front of a real backend: every answer once, whoever gave it.</summary>
public sealed class RequestCountingTests
{
    private const string Key = "sk-counted";
    private static readonly object TinyRequest = new { model = "tts-1", voice = "alloy", input = "Hi.", response_format = "pcm" };

    [Fact]
    public async Task Every_answer_is_counted_once_and_a_client_that_left_as_499()
    {
        // Each sentence takes 1.5 s, so a client that gives up after a second leaves before its first audio, its request
        // well on its way to the backend by then however loaded the machine.
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test", "--Faults:SentenceDelayMs=1500");
        var keysFile = Path.Combine(Path.GetTempPath(), $"mesh-keys-{Guid.NewGuid():N}.json");
        var keys = new[] { new { Name = "counted", Sha256 = ApiKeyStore.HashOf(Key) } };
        await File.WriteAllTextAsync(keysFile, JsonSerializer.Serialize(new { Mesh = new { Auth = new { Keys = keys } } }));
        try
        {
            await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url], $"--Mesh:Auth:KeysFile={keysFile}");
            await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
            using var client = new HttpClient { BaseAddress = gateway.Url, Timeout = TimeSpan.FromSeconds(30) };

            await SendAsync(client, Speech(key: null));
            await SendAsync(client, Speech(HttpMethod.Get));
            var unknownPath = new HttpRequestMessage(HttpMethod.Get, "/no/such/path");
            unknownPath.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Key);
            await SendAsync(client, unknownPath);
            await SendAsync(client, Speech(body: new StringContent(new string(' ', SpeechRequestParser.MaxBodyBytes + 1), Encoding.UTF8, "application/json")));
            var badPriority = Speech();
            badPriority.Headers.Add(MeshHeaders.Priority, "urgent");
            await SendAsync(client, badPriority);
            await SendAsync(client, Speech());
            using (var leaving = new CancellationTokenSource(TimeSpan.FromSeconds(1)))
            {
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.SendAsync(Speech(), leaving.Token));
            }

            const string Unrouted = "variant=\"none\",pool=\"none\",priority=\"none\"";
            const string Routed = "variant=\"test\",pool=\"shared\",priority=\"batch\"";
            var expected = new Dictionary<string, string>
            {
                [$"{Unrouted},code=\"401\""] = "1",
                [$"{Unrouted},code=\"405\""] = "1",
                [$"{Unrouted},code=\"404\""] = "1",
                [$"{Unrouted},code=\"413\""] = "1",
                [$"{Unrouted},code=\"400\""] = "1",
                [$"{Routed},code=\"200\""] = "1",
                [$"{Routed},code=\"499\""] = "1",
            };

            // The gateway notices the client's departure a moment after the client has gone.
            await Eventually.UntilAsync(
                async () => (await CountedAsync(client)).ContainsKey($"{Routed},code=\"499\""), "the client that left was not counted as 499");
            Assert.Equal(Lines(expected), Lines(await CountedAsync(client)));
        }
        finally
        {
            File.Delete(keysFile);
        }
    }

    [Fact]
    public async Task A_client_that_resets_while_sending_its_body_counts_as_499_and_is_not_logged_as_an_error()
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0");
        await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url]);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        const int Resets = 5;

        // The backend first, so its log is complete by the time the gateway has counted its own resets.
        foreach (var host in new[] { backend, gateway })
        {
            for (var i = 0; i < Resets; i++)
            {
                await using var connection = await RawHttp.ConnectAsync(host.Url);
                // Kestrel answers 100 Continue once the application reads the body: the request has begun, and the server
                // is waiting for the rest of the body when the reset comes. A reset before then ends a request never counted.
                await connection.WriteAsync("POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n");
                Assert.Equal(100, (await connection.ReadResponseAsync(TimeSpan.FromSeconds(30))).Status);
                await connection.WriteAsync("{\"input\":\"Hel");
                connection.Reset();
            }
        }

        using var client = new HttpClient { BaseAddress = gateway.Url, Timeout = TimeSpan.FromSeconds(30) };
        const string Reset = "variant=\"none\",pool=\"none\",priority=\"none\",code=\"499\"";
        await Eventually.UntilAsync(
            async () => (await CountedAsync(client)).GetValueOrDefault(Reset) == Resets.ToString(CultureInfo.InvariantCulture),
            "the clients that reset were not all counted as 499");
        // Counted as nothing else: an unhandled failure would have been a 500.
        Assert.Equal($"{Reset} {Resets}", Lines(await CountedAsync(client)));
        // The backend counts the resets it saw, those sent to it directly, once each in the class of a whole file; the
        // gateway reads a body whole before it forwards it, so those reset there never reached the backend.
        using var backendClient = new HttpClient { BaseAddress = backend.Url, Timeout = TimeSpan.FromSeconds(30) };
        var backendMetrics = await backendClient.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Matches($@"(?m)^mesh_requests_total\{{[^}}]*priority=""batch"",code=""499""\}} {Resets}$", backendMetrics);
        Assert.Equal(Resets, MetricsText.Sum(backendMetrics, "mesh_requests_total{"));
        using var served = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), TinyRequest);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        foreach (var host in new[] { backend, gateway })
        {
            Assert.DoesNotContain("fail:", host.Output, StringComparison.Ordinal);
        }
    }

    private static string Lines(Dictionary<string, string> samples) =>
        string.Join('\n', samples.Select(s => $"{s.Key} {s.Value}").Order(StringComparer.Ordinal));

    private static HttpRequestMessage Speech(HttpMethod? method = null, string? key = Key, HttpContent? body = null)
    {
        var request = new HttpRequestMessage(method ?? HttpMethod.Post, "/v1/audio/speech") { Content = body ?? JsonContent.Create(TinyRequest) };
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return request;
    }

    private static async Task SendAsync(HttpClient client, HttpRequestMessage request)
    {
        using (request)
        {
            (await client.SendAsync(request)).Dispose();
        }
    }

    /// <summary>Each <c>mesh_requests_total</c> sample of the gateway's <c>/metrics</c>: its labels and its value.</summary>
    private static async Task<Dictionary<string, string>> CountedAsync(HttpClient client)
    {
        const string Prefix = "mesh_requests_total{";
        var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        return metrics.Split('\n')
            .Where(line => line.StartsWith(Prefix, StringComparison.Ordinal))
            .ToDictionary(line => line[Prefix.Length..line.IndexOf('}', StringComparison.Ordinal)], line => line[(line.LastIndexOf(' ') + 1)..]);
    }
}
