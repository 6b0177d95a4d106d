using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Mesh.Contracts;
using Mesh.Tests.Integration;
using Xunit.Abstractions;

namespace Mesh.Tests.Reliability;

/// <summary>
/// Batch traffic beyond what the fleet admits, with realtime requests mixed in: realtime keeps its reserved slot at the
/// gateway, its place ahead of batch in the backend's queue, and its SLO under load.
/// </summary>
public sealed class OverloadTests(ITestOutputHelper output)
{
    // The bucket of the gateway's TTFA histogram that the TTFA objective uses. The next, 1.28 s, would hold anyway: a
    // realtime request waits for a slot at most the 1 s queue timeout given below, and is then shed.
    private const string RealtimeTtfaBound = "0.64";
    private const string BatchLabel = "priority=\"batch\"";
    private const int BatchSentences = 6;
    private static readonly Uri RealtimePath = new("/v1/audio/speech/stream/pcm", UriKind.Relative);
    private static readonly Uri MetricsPath = new("/metrics", UriKind.Relative);
    private static readonly Uri BatchPath = new("/v1/audio/speech", UriKind.Relative);
    private static readonly object RealtimeBody = new { voice = "alloy", input = "Now." };
    private static readonly object BatchBody = new { model = "tts-1", voice = "alloy", input = "First part. Second part.", response_format = "pcm" };
    private static readonly object SixSentenceBatchBody = new { model = "tts-1", voice = "alloy", input = "One. Two. Three. Four. Five. Six.", response_format = "pcm" };

    [Fact]
    public async Task Realtime_is_admitted_at_once_and_synthesized_ahead_of_the_batch_sentences_queued_before_it()
    {
        // One worker, so sentences wait in the backend's queue; each takes 300 ms, and a batch request's six are all
        // queued at its start (the lookahead covers them).
        await using var backend = await MeshFleet.StartBackendAsync(
            "b0", "test", "--Faults:SentenceDelayMs=300", "--WORKERS=1", $"--Pipeline:Lookahead={BatchSentences - 1}");
        const int totalConcurrency = 4;
        const int batchSlots = totalConcurrency - 1;
        await using var gateway = await MeshFleet.StartGatewayAsync(
            [backend.Url],
            $"--Mesh:Admission:TotalConcurrency={totalConcurrency}",
            $"--Mesh:Admission:RealtimeReserved={totalConcurrency - batchSlots}",
            "--Mesh:Admission:Batch:QueueTimeoutMs=30000");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url, Timeout = TimeSpan.FromSeconds(30) };
        using var backendClient = new HttpClient { BaseAddress = backend.Url, Timeout = TimeSpan.FromSeconds(30) };
        // The first realtime request compiles its path through both processes: not the one measured below.
        using (var warm = await client.PostAsJsonAsync(RealtimePath, RealtimeBody))
        {
            Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        }

        using var abandon = new CancellationTokenSource();
        var admittedFirstServed = 0;
        async Task BatchAsync(bool admittedFirst)
        {
            try
            {
                using var response = await client.PostAsJsonAsync(BatchPath, SixSentenceBatchBody, abandon.Token);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                if (admittedFirst)
                {
                    Interlocked.Increment(ref admittedFirstServed);
                }
            }
            catch (OperationCanceledException) when (abandon.IsCancellationRequested)
            {
                // Left unfinished once the realtime request has been served.
            }
        }

        // Batch fills its slots, until all their sentences are on the backend, queued or taken; taken ones are counted in
        // the queue's wait histogram, which only grows, so no poll can miss the moment.
        var admitted = Enumerable.Range(0, batchSlots).Select(_ => BatchAsync(admittedFirst: true)).ToArray();
        await Eventually.UntilAsync(
            async () =>
            {
                var metrics = await backendClient.GetStringAsync(MetricsPath);
                return MetricsText.Sum(metrics, "mesh_queue_depth{", BatchLabel) + MetricsText.Sum(metrics, "mesh_queue_wait_seconds_count{", BatchLabel)
                    >= batchSlots * BatchSentences;
            },
            "the batch requests' sentences never reached the backend");
        // Then as many again, more than the one slot left, which batch would take too without the reservation; the rest
        // wait at the gateway until the requests ahead of them are done, seconds from now.
        var queued = Enumerable.Range(0, batchSlots).Select(_ => BatchAsync(admittedFirst: false)).ToArray();
        await Eventually.UntilAsync(
            async () => MetricsText.Sum(await client.GetStringAsync(MetricsPath), "mesh_queue_depth{", BatchLabel) > 0,
            "no batch request waited at the gateway");

        using (var realtime = await client.PostAsJsonAsync(RealtimePath, RealtimeBody))
        {
            Assert.Equal(HttpStatusCode.OK, realtime.StatusCode);
            Assert.Equal("0", realtime.Headers.GetValues(MeshHeaders.QueueMs).Single());
        }

        // Taken next, it ends after at most the batch sentence on the engine and its own, seconds before the last of the
        // batch sentences queued before it; waiting its turn, it would end after all of them.
        var servedBeforeRealtime = Volatile.Read(ref admittedFirstServed);
        output.WriteLine($"realtime served once {servedBeforeRealtime} of the {batchSlots} batch requests admitted before it were");
        Assert.True(servedBeforeRealtime < batchSlots, "realtime waited on the backend for every batch sentence queued before it");
        await abandon.CancelAsync();
        await Task.WhenAll([.. admitted, .. queued]);
    }

    [Fact]
    public async Task At_twice_capacity_realtime_holds_its_slo_batch_is_shed_and_memory_stays_bounded()
    {
        // Capacity: 4 slots (2 reserved for realtime); each sentence costs 150 ms on the engine.
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test", "--Faults:SentenceDelayMs=150", "--WORKERS=4");
        await using var gateway = await MeshFleet.StartGatewayAsync(
            [backend.Url],
            "--Mesh:Admission:TotalConcurrency=4",
            "--Mesh:Admission:RealtimeReserved=2",
            "--Mesh:Admission:Batch:MaxQueue=4",
            "--Mesh:Admission:Batch:QueueTimeoutMs=1000",
            "--Mesh:Admission:Realtime:MaxQueue=8",
            "--Mesh:Admission:Realtime:QueueTimeoutMs=1000");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url, Timeout = TimeSpan.FromSeconds(30) };
        // Warm first: the SLO is a property of a running fleet, and a fresh process's first requests also pay for
        // compiling the code they run (their TTFA was 0.4 s, against 0.15-0.3 s once warm).
        for (var i = 0; i < 3; i++)
        {
            using var warmRealtime = await client.PostAsJsonAsync(RealtimePath, RealtimeBody);
            await warmRealtime.Content.ReadAsByteArrayAsync();
            using var warmBatch = await client.PostAsJsonAsync(BatchPath, BatchBody);
            await warmBatch.Content.ReadAsByteArrayAsync();
        }

        var rssBefore = ResidentBytes(gateway.Pid);
        var metricsBefore = await client.GetStringAsync(MetricsPath);

        var realtimeTtfa = new List<double>();
        var batchCodes = new List<HttpStatusCode>();
        var retryAfterMissing = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(6));
        async Task BatchClientAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                using var response = await client.PostAsJsonAsync(BatchPath, BatchBody);
                await response.Content.ReadAsByteArrayAsync();
                lock (batchCodes)
                {
                    batchCodes.Add(response.StatusCode);
                    retryAfterMissing += response.StatusCode == HttpStatusCode.TooManyRequests && response.Headers.RetryAfter is null ? 1 : 0;
                }

                if (response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    // An impatient client: far sooner than Retry-After asks, so the pressure stays on.
                    await Task.Delay(50);
                }
            }
        }

        async Task RealtimeClientAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                var clock = Stopwatch.StartNew();
                using var request = new HttpRequestMessage(HttpMethod.Post, RealtimePath) { Content = JsonContent.Create(RealtimeBody) };
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                await using var body = await response.Content.ReadAsStreamAsync();
                await body.ReadExactlyAsync(new byte[2]);
                lock (realtimeTtfa)
                {
                    realtimeTtfa.Add(clock.Elapsed.TotalMilliseconds);
                }

                await body.CopyToAsync(Stream.Null);
            }
        }

        // Eight batch clients against four slots, plus two realtime clients: twice what the gateway admits. The clients
        // start at once, and this process's thread pool (two threads on two cores) took up to 1.2 s to grow for them:
        // the first realtime requests then measured the test's own client, not the fleet.
        ThreadPool.GetMinThreads(out var workers, out var completions);
        ThreadPool.SetMinThreads(Math.Max(workers, 16), completions);
        try
        {
            await Task.WhenAll([.. Enumerable.Range(0, 8).Select(_ => Task.Run(BatchClientAsync)), .. Enumerable.Range(0, 2).Select(_ => Task.Run(RealtimeClientAsync))]);
        }
        finally
        {
            ThreadPool.SetMinThreads(workers, completions);
        }

        var rssGrowthMb = (ResidentBytes(gateway.Pid) - rssBefore) / 1_048_576.0;
        var metrics = await client.GetStringAsync(MetricsPath);
        // The TTFA the gateway measured, arrival to response start, of the realtime requests under load: the test's own
        // clients, which share the two cores with the fleet, are not in it. The bound holds for 95% of the ~50 requests,
        // not for the slowest, which a stall of the machine alone could push past it.
        double RealtimeServedDuringLoad(string le) => RealtimeServed(metrics, le) - RealtimeServed(metricsBefore, le);
        var realtimeServed = RealtimeServedDuringLoad("+Inf");
        var realtimeWithinBound = RealtimeServedDuringLoad(RealtimeTtfaBound);
        var shed = batchCodes.Count(c => c == HttpStatusCode.TooManyRequests);
        output.WriteLine(
            $"realtime: {realtimeTtfa.Count} requests, TTFA at the client p50 {realtimeTtfa.Order().ElementAt(realtimeTtfa.Count / 2):0} ms, " +
            $"max {realtimeTtfa.Max():0} ms; at the gateway {realtimeWithinBound} of {realtimeServed} within {RealtimeTtfaBound} s");
        output.WriteLine($"batch: {batchCodes.Count} requests, {batchCodes.Count(c => c == HttpStatusCode.OK)} served, {shed} shed with 429; gateway RSS growth {rssGrowthMb:0.0} MB");

        Assert.True(realtimeTtfa.Count >= 10, "realtime traffic did not run");
        Assert.True(realtimeWithinBound >= 0.95 * realtimeServed, $"realtime TTFA p95 over {RealtimeTtfaBound} s: {realtimeWithinBound} of {realtimeServed} within it");
        Assert.True(shed > 0, "no batch request was shed");
        Assert.Equal(0, retryAfterMissing);
        Assert.All(batchCodes, c => Assert.Contains(c, new[] { HttpStatusCode.OK, HttpStatusCode.TooManyRequests }));
        Assert.Matches(@"mesh_queue_depth\{priority=""batch""\} [0-4]\b", metrics);
        Assert.True(rssGrowthMb < 64, $"gateway memory grew {rssGrowthMb:0.0} MB");
    }

    /// <summary>The realtime requests the gateway has served with a TTFA within the bucket bound <paramref name="le"/>.</summary>
    private static double RealtimeServed(string metrics, string le) =>
        MetricsText.Sum(metrics, "mesh_tts_time_to_first_audio_seconds_bucket{", $"priority=\"realtime\",le=\"{le}\"");

    private static long ResidentBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }
}
