using System.Net;
using System.Net.Http.Json;
using Mesh.Contracts;

namespace Mesh.Tests.Integration;

/// <summary>
/// A pool named by a host, as a headless Service is in Kubernetes, with real backends on two loopback addresses and the
/// same port, like two pods. The test owns the name's records through the gateway's hosts-file resolver, which feeds the
/// same refresh and publish path as DNS; one gateway process sees the pool grow, survive a failed lookup, and shrink.
/// </summary>
public sealed class DiscoveryTests
{
    private const string Host = "pool.mesh.test";
    private const string AddressesSample = $"mesh_backend_discovered_addresses{{host=\"{Host}\"}}";
    private const string FailuresSample = $"mesh_backend_discovery_failures_total{{host=\"{Host}\"}}";
    private const string PoolReadySample = "mesh_pool_ready_backends{cluster=\"shared:test\"}";

    [Fact]
    public async Task A_discovered_pool_follows_its_records_without_a_gateway_restart()
    {
        var port = LoopbackPorts.Unused();
        var backends = await Task.WhenAll(
            MeshFleet.StartBackendAsync("dns-b1", "test", $"--urls=http://127.0.0.1:{port}"),
            MeshFleet.StartBackendAsync("dns-b2", "test", $"--urls=http://127.0.0.2:{port}"));
        await using var first = backends[0];
        await using var second = backends[1];
        var hostsFile = Path.Combine(Path.GetTempPath(), $"mesh-hosts-{Guid.NewGuid():N}");
        await WriteRecordsAsync(hostsFile, "127.0.0.1");
        try
        {
            await using var gateway = await StartGatewayAsync(port, hostsFile);
            await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
            using var client = new HttpClient { BaseAddress = gateway.Url, Timeout = TimeSpan.FromSeconds(30) };
            Assert.All(await ServedByAsync(client, 4), backend => Assert.Equal("dns-b1", backend));

            // Scale-out: the second pod's record appears and it gets traffic.
            await WriteRecordsAsync(hostsFile, "127.0.0.1", "127.0.0.2");
            await Eventually.UntilAsync(async () => (await ServedByAsync(client, 4)).Contains("dns-b2"), "dns-b2 got no traffic after its record appeared");
            Assert.Equal("2", await MetricAsync(client, AddressesSample));

            // The gateway's per-backend series carry each backend's own name, as its own series do, not its address.
            await Eventually.UntilAsync(
                async () => await MetricAsync(client, HealthySample("dns-b1")) == "1" && await MetricAsync(client, HealthySample("dns-b2")) == "1",
                "the gateway's health series are not labelled with the backends' names");
            Assert.DoesNotContain("backend=\"pool/", await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)), StringComparison.Ordinal);

            // The name stops resolving: the pool keeps both backends and serves on.
            await WriteRecordsAsync(hostsFile);
            await Eventually.UntilAsync(async () => await MetricAsync(client, FailuresSample) is not ("" or "0"), "no failed lookup counted");
            await ServedByAsync(client, 4);
            Assert.Equal("2", await MetricAsync(client, AddressesSample));
            Assert.Contains($"Resolving backend host {Host} failed", gateway.Output, StringComparison.Ordinal);
            Assert.Contains("keeping its 2 last known address(es)", gateway.Output, StringComparison.Ordinal);

            // Scale-in: only the second pod is left.
            await WriteRecordsAsync(hostsFile, "127.0.0.2");
            await Eventually.UntilAsync(async () => (await ServedByAsync(client, 6)).All(b => b == "dns-b2"), "dns-b1 still got traffic after its record went");
            Assert.Equal("", await MetricAsync(client, HealthySample("dns-b1")));
            Assert.Equal("1", await MetricAsync(client, HealthySample("dns-b2")));
            Assert.False(gateway.HasExited);
        }
        finally
        {
            File.Delete(hostsFile);
        }
    }

    [Fact]
    public async Task A_pool_with_no_backend_at_all_reads_0_ready_backends_until_one_is_ready()
    {
        var port = LoopbackPorts.Unused();
        await using var backend = await MeshFleet.StartBackendAsync("dns-b1", "test", $"--urls=http://127.0.0.1:{port}");
        var hostsFile = Path.Combine(Path.GetTempPath(), $"mesh-hosts-{Guid.NewGuid():N}");
        await WriteRecordsAsync(hostsFile);
        try
        {
            await using var gateway = await StartGatewayAsync(port, hostsFile);
            using var client = new HttpClient { BaseAddress = gateway.Url, Timeout = TimeSpan.FromSeconds(30) };

            // The pool has no backend, so no per-backend series either: only the pool's own says it cannot serve.
            Assert.Equal("0", await MetricAsync(client, PoolReadySample));
            Assert.DoesNotContain("mesh_backend_healthy{", await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)), StringComparison.Ordinal);

            await WriteRecordsAsync(hostsFile, "127.0.0.1");
            await Eventually.UntilAsync(async () => await MetricAsync(client, PoolReadySample) == "1", "the pool's ready backend was not counted");
        }
        finally
        {
            File.Delete(hostsFile);
        }
    }

    private static string HealthySample(string backend) => $"mesh_backend_healthy{{backend=\"{backend}\",cluster=\"shared:test\"}}";

    /// <summary>A gateway whose one pool is discovered from <see cref="Host"/>, looked up in <paramref name="hostsFile"/> every 200 ms.</summary>
    private static Task<HostProcess> StartGatewayAsync(int port, string hostsFile) =>
        HostProcess.StartAsync(
            RepoPaths.GatewayDll,
            [
                .. MeshFleet.FleetArgs(0, "pool", new Uri($"http://{Host}:{port}/"), "shared", "test"),
                "--Mesh:Fleet:Backends:0:Discover=true",
                $"--Mesh:Discovery:HostsFile={hostsFile}",
                "--Mesh:Discovery:RefreshMs=200",
            ]);

    /// <summary>Replaces the file at once (write, then rename), so the gateway never reads half of it.</summary>
    private static async Task WriteRecordsAsync(string hostsFile, params string[] addresses)
    {
        var next = hostsFile + ".next";
        await File.WriteAllLinesAsync(next, ["# the test's DNS", .. addresses.Select(a => $"{a} {Host}")]);
        File.Move(next, hostsFile, overwrite: true);
    }

    /// <summary>The backend that answered each of <paramref name="count"/> short requests; every one must succeed.</summary>
    private static async Task<string[]> ServedByAsync(HttpClient client, int count)
    {
        var served = new string[count];
        for (var i = 0; i < count; i++)
        {
            using var response = await client.PostAsJsonAsync(new Uri("/v1/audio/speech/stream/pcm", UriKind.Relative), new { voice = "alloy", input = "Hi." });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            served[i] = response.Headers.GetValues(MeshHeaders.Backend).Single();
        }

        return served;
    }

    /// <summary>The value of one sample of the gateway's <c>/metrics</c>, or empty when it is not exported.</summary>
    private static async Task<string> MetricAsync(HttpClient client, string sample)
    {
        var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        return metrics.Split('\n').Where(l => l.StartsWith(sample + " ", StringComparison.Ordinal)).Select(l => l[(sample.Length + 1)..]).SingleOrDefault() ?? "";
    }
}
