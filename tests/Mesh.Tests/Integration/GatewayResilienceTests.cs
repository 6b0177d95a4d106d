using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using Mesh.Contracts;
using Mesh.Tests.Observability;
using Mesh.Tests.Reliability;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Mesh.Tests.Integration;

/// <summary>Failover, ejection and fast failure with real backend processes that crash or misbehave.</summary>
public sealed class GatewayResilienceTests
{
    private static readonly string[] UnavailableCodes = ["no_healthy_backend", "backend_unavailable"];
    private static readonly object TinyRequest = new { model = "tts-1", voice = "alloy", input = "Hello there.", response_format = "pcm" };

    [Fact]
    public async Task Killing_a_backend_under_steady_traffic_fails_no_request_that_had_not_started()
    {
        await using var healthy = await MeshFleet.StartBackendAsync("b0");
        await using var doomed = await MeshFleet.StartBackendAsync("b1");
        await using var gateway = await MeshFleet.StartGatewayAsync([healthy.Url, doomed.Url]);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };

        var notStartedFailures = 0;
        var brokenAfterStart = 0;
        var succeeded = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        async Task ClientLoopAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                // Headers first: a body cut by the kill is a stream that had started, not a request that failed to.
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech") { Content = JsonContent.Create(TinyRequest) };
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref notStartedFailures);
                    continue;
                }

                try
                {
                    await response.Content.ReadAsByteArrayAsync();
                    Interlocked.Increment(ref succeeded);
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref brokenAfterStart);
                }
            }
        }

        var clients = Enumerable.Range(0, 4).Select(_ => Task.Run(ClientLoopAsync)).ToArray();
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        await doomed.KillAsync();
        await Task.WhenAll(clients);

        Assert.Equal(0, notStartedFailures);
        Assert.True(succeeded > 40, $"only {succeeded} requests succeeded");
        Assert.True(brokenAfterStart <= 4, $"{brokenAfterStart} streams broke; at most the 4 in flight at the kill may");
        Assert.Contains("mesh_retries_total{", await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_backend_answering_500s_is_ejected()
    {
        await using var healthy = await MeshFleet.StartBackendAsync("b0");
        await using var failing = await MeshFleet.StartBackendAsync("b1", "test", "--Faults:FailureRatio=1");
        // Round robin, so every other request tries b1 first until it is ejected.
        await using var gateway = await MeshFleet.StartGatewayAsync(
            [healthy.Url, failing.Url], "--Mesh:Health:ConsecutiveFailures=2", "--Mesh:Health:ReactivationSeconds=60", "--Mesh:Balancing:Policy=RoundRobin");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };

        for (var i = 0; i < 16; i++)
        {
            using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), TinyRequest);
            // b1 fails before its first byte, so each of its failures is failed over to b0.
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Matches("mesh_backend_ejections_total\\{backend=\"b1\",cluster=\"[^\"]+\"\\} 1", metrics);
        Assert.Matches("mesh_backend_ejections_total\\{backend=\"b0\",cluster=\"[^\"]+\"\\} 0", metrics);
        // YARP runs the passive policy once the answer is complete, so one more request may try b1 before the
        // ejection lands, and none after that.
        var retries = RetriesFor500(metrics);
        Assert.InRange(retries, 2, 3);
    }

    [Fact]
    public async Task Failures_of_requests_already_on_an_ejected_backend_count_no_second_ejection()
    {
        await using var healthy = await MeshFleet.StartBackendAsync("b0");
        // Each sentence fails after 1 s, one after another on b1's worker: the requests behind the first two are still on
        // b1 when those two eject it.
        await using var failing = await MeshFleet.StartBackendAsync("b1", "test", "--Faults:FailureRatio=1", "--Faults:SentenceDelayMs=1000");
        await using var gateway = await MeshFleet.StartGatewayAsync(
            [healthy.Url, failing.Url], "--Mesh:Health:ConsecutiveFailures=2", "--Mesh:Health:ReactivationSeconds=60", "--Mesh:Balancing:Policy=RoundRobin");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };

        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), TinyRequest);
            return response.StatusCode;
        }));

        // Every failure on b1 was failed over to b0. Four failed there, two ejections' worth, but the second found b1 out
        // already (YARP keeps its first reactivation): one backend was taken out of rotation once.
        Assert.All(responses, status => Assert.Equal(HttpStatusCode.OK, status));
        var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.True(RetriesFor500(metrics) >= 4, $"only {RetriesFor500(metrics)} failures on b1 were failed over");
        Assert.Matches("mesh_backend_ejections_total\\{backend=\"b1\",cluster=\"[^\"]+\"\\} 1\n", metrics);
    }

    [Fact]
    public async Task Requests_with_a_non_ascii_header_are_served_and_eject_no_backend()
    {
        await using var first = await MeshFleet.StartBackendAsync("b0");
        await using var second = await MeshFleet.StartBackendAsync("b1");
        await using var gateway = await MeshFleet.StartGatewayAsync([first.Url, second.Url]);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        var body = Encoding.UTF8.GetBytes("""{"model":"tts-1","voice":"alloy","input":"Hello there.","response_format":"pcm"}""");
        // A client's name in its own language, in UTF-8 as Kestrel reads it. Forwarded as ASCII only, it failed each
        // request before the backend saw it, and counted as the backend's failure: three such requests ejected both.
        var head = Encoding.UTF8.GetBytes(
            $"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nUser-Agent: Müller-Sprachausgabe/1.0\r\n" +
            $"Content-Length: {body.Length}\r\nConnection: close\r\n\r\n");

        for (var i = 0; i < 6; i++)
        {
            await using var connection = await RawHttp.ConnectAsync(gateway.Url);
            await connection.WriteAsync([.. head, .. body]);
            var response = await connection.ReadResponseAsync(TimeSpan.FromSeconds(10));
            Assert.True(response.Status == 200 && response.Body.Length > 0, $"request {i}: {response.Status} {response.Text}");
        }

        using var client = new HttpClient { BaseAddress = gateway.Url };
        using var plain = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), TinyRequest);
        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Equal(0, MetricsText.Sum(metrics, "mesh_backend_ejections_total{"));
    }

    [Fact]
    public async Task A_backend_failing_before_its_first_byte_is_failed_over_on_every_surface()
    {
        await using var failing = await MeshFleet.StartBackendAsync("b0", "test", "--Faults:FailureRatio=1");
        await using var healthy = await MeshFleet.StartBackendAsync("b1");
        // Round robin, so every other request tries the failing backend first; never ejected here.
        await using var gateway = await MeshFleet.StartGatewayAsync(
            [failing.Url, healthy.Url], "--Mesh:Balancing:Policy=RoundRobin", "--Mesh:Health:ConsecutiveFailures=1000");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };

        (string Path, object Body)[] requests =
        [
            ("/v1/audio/speech", TinyRequest),
            ("/v1/audio/speech", new { model = "tts-1", voice = "alloy", input = "Hello there.", response_format = "pcm", stream_format = "sse" }),
            ("/v1/audio/speech/stream", new { voice = "alloy", input = "Hello there." }),
            ("/v1/audio/speech/stream/pcm", new { voice = "alloy", input = "Hello there." }),
        ];
        foreach (var (path, body) in requests.Concat(requests))
        {
            using var response = await client.PostAsJsonAsync(new Uri(path, UriKind.Relative), body);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            Assert.Equal("b1", response.Headers.GetValues(MeshHeaders.Backend).Single());
        }

        Assert.Equal(4, RetriesFor500(await client.GetStringAsync(new Uri("/metrics", UriKind.Relative))));
    }

    private static int RetriesFor500(string metrics) => (int)MetricsText.Sum(metrics, "mesh_retries_total{", "reason=\"500\"");

    [Fact]
    public async Task A_failed_over_request_still_says_how_long_it_queued()
    {
        await using var refusing = await RefusingBackend.StartAsync();
        await using var healthy = await MeshFleet.StartBackendAsync("b1");
        // Round robin, so every other request tries the refusing backend first and fails over to the healthy one.
        await using var gateway = await MeshFleet.StartGatewayAsync([refusing.Url, healthy.Url], "--Mesh:Balancing:Policy=RoundRobin");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };

        for (var i = 0; i < 4; i++)
        {
            using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), TinyRequest);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.True(response.Headers.Contains(MeshHeaders.QueueMs), $"request {i} has no {MeshHeaders.QueueMs}");
        }

        var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Contains("mesh_retries_total{variant=\"test\",pool=\"shared\",reason=\"503\"} 2", metrics, StringComparison.Ordinal);
    }

    /// <remarks>
    /// A request that ended the backend it was sent to (an input its synthesizer crashes on) would, sent on by failover
    /// and then by the client's SDK retrying its 503, end one more backend with each try.
    /// </remarks>
    [Fact]
    public async Task A_request_both_backends_tried_drop_unanswered_is_answered_502_without_a_retry()
    {
        var received = 0;
        async Task DropAsync(HttpContext context)
        {
            Interlocked.Increment(ref received);
            await context.Request.Body.CopyToAsync(Stream.Null);
            context.Abort();
        }

        await using var first = await InProcessBackend.StartAsync(app => app.MapPost("/v1/audio/speech", DropAsync));
        await using var second = await InProcessBackend.StartAsync(app => app.MapPost("/v1/audio/speech", DropAsync));
        await using var gateway = await MeshFleet.StartGatewayAsync([first.Url, second.Url], "--Mesh:Health:ConsecutiveFailures=1000");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };

        using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), TinyRequest);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("request_dropped", (await response.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope))!.Error.Code);
        Assert.Equal("false", response.Headers.GetValues(MeshHeaders.ShouldRetry).Single());
        Assert.False(response.Headers.Contains("Retry-After"));
        Assert.Equal(2, received);
    }

    [Fact]
    public async Task With_every_backend_down_the_gateway_answers_503_within_100_ms()
    {
        var b0 = await MeshFleet.StartBackendAsync("b0");
        var b1 = await MeshFleet.StartBackendAsync("b1");
        await using var gateway = await MeshFleet.StartGatewayAsync([b0.Url, b1.Url]);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };
        await b0.KillAsync();
        await b1.KillAsync();

        // Right after the crash (connections refused) and once the probes have noticed (no healthy backend). The median
        // of five is what a client sees; the very first failure also pays the one-time compilation of the error path.
        var justDown = await TimedRequestsAsync(client);
        await GatewayProbes.UntilEveryBackendReadsAsync(client, "mesh_backend_healthy", 0, backends: 2);
        var noticed = await TimedRequestsAsync(client);

        foreach (var (codes, median) in new[] { justDown, noticed })
        {
            Assert.All(codes, code => Assert.Contains(code, UnavailableCodes));
            Assert.True(median < TimeSpan.FromMilliseconds(100), $"median {median.TotalMilliseconds:0} ms (just down {justDown.Median.TotalMilliseconds:0} ms, noticed {noticed.Median.TotalMilliseconds:0} ms)");
        }

        Assert.All(noticed.Codes, code => Assert.Equal("no_healthy_backend", code));
        await b0.DisposeAsync();
        await b1.DisposeAsync();
    }

    [Fact]
    public async Task With_every_backend_ejected_the_503_says_to_retry_when_the_first_is_reactivated()
    {
        // Ejected for 8 s by its first failure. A Retry-After of 1 s sent clients, and the SDKs' two retries, back long before.
        await using var pool = await EjectedPool.StartAsync(reactivationSeconds: 8);

        using var answer = await pool.EjectAsync();

        Assert.Equal("no_healthy_backend", (await answer.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope))!.Error.Code);
        var (seconds, milliseconds) = RetryAdvice(answer);
        // What is left of the 8 s, and 250 ms for YARP's reactivation timer; the lower bound leaves room for a busy
        // machine between the ejection and this answer.
        Assert.InRange(milliseconds, 5000, 8250);
        Assert.Equal((int)Math.Ceiling(milliseconds / 1000.0), seconds);
    }

    [Fact]
    public async Task With_every_backend_unready_the_503_says_to_retry_at_the_next_probe()
    {
        var backend = await MeshFleet.StartBackendAsync("b0");
        await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url]);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };
        await backend.KillAsync();
        // The probes most likely still count the backend ready: the catalogue asks it, gets no answer, and advised the
        // 100 ms floor, long before a probe could tell anything. A probe that noticed first leaves the same advice.
        using var modelsRightAfter = await client.GetAsync(new Uri("/v1/models", UriKind.Relative));
        // No proxied request meanwhile: only the probes hold the backend out, and the next one may find it back.
        await Eventually.UntilAsync(
            async () =>
            {
                using var ready = await client.GetAsync(new Uri("/readyz", UriKind.Relative));
                return ready.StatusCode == HttpStatusCode.ServiceUnavailable;
            },
            "the gateway's probes did not notice the killed backend");

        using var speech = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), TinyRequest);
        using var models = await client.GetAsync(new Uri("/v1/models", UriKind.Relative));

        foreach (var answer in new[] { modelsRightAfter, speech, models })
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, answer.StatusCode);
            Assert.Equal("no_healthy_backend", (await answer.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope))!.Error.Code);
            Assert.Equal((2, 2000), RetryAdvice(answer));
        }

        await backend.DisposeAsync();
    }

    /// <summary>The wait an answer advises: <c>Retry-After</c> in seconds and the SDKs' <c>Retry-After-Ms</c>.</summary>
    private static (int Seconds, long Milliseconds) RetryAdvice(HttpResponseMessage response) =>
        ((int)response.Headers.RetryAfter!.Delta!.Value.TotalSeconds,
         long.Parse(response.Headers.GetValues(MeshHeaders.RetryAfterMs).Single(), System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Five requests in a row: every error code, and the median time to the answer.</summary>
    private static async Task<(string?[] Codes, TimeSpan Median)> TimedRequestsAsync(HttpClient client)
    {
        var codes = new List<string?>();
        var times = new List<TimeSpan>();
        for (var i = 0; i < 5; i++)
        {
            var (status, elapsed, envelope) = await TimedRequestAsync(client);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            codes.Add(envelope?.Error.Code);
            times.Add(elapsed);
        }

        return ([.. codes], times.Order().ElementAt(2));
    }

    private static async Task<(HttpStatusCode Status, TimeSpan Elapsed, ErrorEnvelope? Envelope)> TimedRequestAsync(HttpClient client)
    {
        // The first request warms the client's connection to the gateway; time the second.
        (await client.GetAsync(new Uri("/healthz", UriKind.Relative))).Dispose();
        var stopwatch = Stopwatch.StartNew();
        using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), TinyRequest);
        stopwatch.Stop();
        Assert.NotNull(response.Headers.RetryAfter);
        return (response.StatusCode, stopwatch.Elapsed, await response.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope));
    }
}
