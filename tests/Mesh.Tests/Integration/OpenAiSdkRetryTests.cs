using System.Text.Json;
using Xunit.Abstractions;

namespace Mesh.Tests.Integration;

/// <summary>
/// The official OpenAI Node SDK's automatic retries (<c>tests/node/openai-sdk-retries.mjs</c>: two by default, of every
/// 5xx and 429, after <c>retry-after-ms</c> or <c>Retry-After</c>, unless <c>x-should-retry</c> says otherwise) against
/// a failing fleet of its own: they must wait for a backend to come back, and not repeat what cannot succeed.
/// </summary>
public sealed class OpenAiSdkRetryTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_sdk_does_not_retry_a_504_and_its_request_ejects_no_backend()
    {
        // Every sentence takes 3 s and the first audio is due in 2 s. Retried twice, the SDK's one call took 9 s, and its
        // three 504s ejected the backends, so every client got 503 no_healthy_backend for the next 10 s.
        var environment = new Dictionary<string, string> { ["REQUEST_TIMEOUT_SECONDS"] = "2" };
        string[][] backendArgs = [["--Backend:Name=b0", "--Backend:Variant=test", "--Faults:SentenceDelayMs=3000"], ["--Backend:Name=b1", "--Backend:Variant=test", "--Faults:SentenceDelayMs=3000"]];
        var backends = await Task.WhenAll(backendArgs.Select(args => HostProcess.StartAsync(RepoPaths.BackendDll, args, environment)));
        try
        {
            await Task.WhenAll(backends.Select(backend => backend.WaitReadyAsync(TimeSpan.FromSeconds(60))));
            await using var gateway = await MeshFleet.StartGatewayAsync(backends.Select(b => b.Url));
            await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));

            var report = await CallAsync(gateway);

            Assert.Equal(504, report.GetProperty("status").GetInt32());
            Assert.Equal("timeout", report.GetProperty("code").GetString());
            Assert.Equal([504], Statuses(report));
            using var client = new HttpClient { BaseAddress = gateway.Url };
            var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
            Assert.Equal(0, MetricsText.Sum(metrics, "mesh_backend_ejections_total{"));
        }
        finally
        {
            await Task.WhenAll(backends.Select(backend => backend.DisposeAsync().AsTask()));
        }
    }

    [Fact]
    public async Task The_sdk_retries_an_ejected_pool_once_its_backend_is_back()
    {
        // Ejected for 15 s by each failure, far longer than Node takes to start. Told to retry in 1 s, the SDK spent
        // both retries on 503s within 2 s.
        await using var pool = await EjectedPool.StartAsync(reactivationSeconds: 15);
        (await pool.EjectAsync()).Dispose();

        var report = await CallAsync(pool.Gateway, "--max-retries", "1");

        // The retry waits as long as the 503 advised, and reaches the backend again, which fails it.
        Assert.Equal([503, 500], Statuses(report));
        var attempts = report.GetProperty("attempts").EnumerateArray().ToArray();
        var advisedMs = attempts[0].GetProperty("retryAfterMs").GetInt32();
        Assert.InRange(attempts[1].GetProperty("atMs").GetInt32() - attempts[0].GetProperty("atMs").GetInt32(), advisedMs, advisedMs + 5000);
    }

    private async Task<JsonElement> CallAsync(HostProcess gateway, params string[] options)
    {
        var report = await NodeScripts.RunAsync("openai-sdk-retries.mjs", ["--url", gateway.Url.ToString(), .. options], TimeSpan.FromSeconds(60));
        output.WriteLine(report.GetRawText());
        return report;
    }

    private static int[] Statuses(JsonElement report) => [.. report.GetProperty("attempts").EnumerateArray().Select(a => a.GetProperty("status").GetInt32())];
}
