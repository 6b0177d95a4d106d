using System.Net;
using System.Net.Sockets;
using Mesh.Gateway;
using Mesh.Gateway.Discovery;
using Mesh.Gateway.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;

namespace Mesh.Tests.Gateway;

/// <summary>
/// DNS discovery of a pool through a resolver the test answers for: the proxy configuration follows the host's
/// records, signals YARP only on a real change, and keeps the last known addresses when a lookup fails.
/// </summary>
public sealed class BackendDiscoveryTests
{
    [Fact]
    public async Task Scale_out_and_in_publish_a_new_config_with_one_destination_per_address()
    {
        using var mesh = new DiscoveredMesh("scale.mesh.test");
        mesh.Resolver.Answer("10.0.0.1");
        Assert.True(await mesh.Discovery.RefreshAsync(CancellationToken.None));
        var one = mesh.Proxy.GetConfig();
        Assert.Equal(["http://10.0.0.1:8000/"], Addresses(one));

        mesh.Resolver.Answer("10.0.0.3", "10.0.0.1", "10.0.0.2");
        Assert.True(await mesh.Discovery.RefreshAsync(CancellationToken.None));
        Assert.True(one.ChangeToken.HasChanged);
        var three = mesh.Proxy.GetConfig();
        Assert.Equal(["http://10.0.0.1:8000/", "http://10.0.0.2:8000/", "http://10.0.0.3:8000/"], Addresses(three));
        Assert.Equal(["pool/10.0.0.1", "pool/10.0.0.2", "pool/10.0.0.3"], Cluster(three).Destinations!.Keys.Order(StringComparer.Ordinal));

        // The same records in another order (DNS rotates them) are no change.
        mesh.Resolver.Answer("10.0.0.2", "10.0.0.3", "10.0.0.1");
        Assert.False(await mesh.Discovery.RefreshAsync(CancellationToken.None));
        Assert.False(three.ChangeToken.HasChanged);

        mesh.Resolver.Answer("10.0.0.2");
        Assert.True(await mesh.Discovery.RefreshAsync(CancellationToken.None));
        Assert.True(three.ChangeToken.HasChanged);
        Assert.Equal(["http://10.0.0.2:8000/"], Addresses(mesh.Proxy.GetConfig()));
        Assert.Equal(1, GatewayMetrics.DiscoveredAddresses.WithLabels("scale.mesh.test").Value);
    }

    [Fact]
    public async Task A_failed_empty_or_unanswered_lookup_keeps_the_last_known_addresses_and_is_counted()
    {
        const string host = "flaky.mesh.test";
        using var mesh = new DiscoveredMesh(host, timeoutMs: 200);
        mesh.Resolver.Answer("10.0.1.1", "10.0.1.2");
        await mesh.Discovery.RefreshAsync(CancellationToken.None);
        var good = mesh.Proxy.GetConfig();
        var failures = GatewayMetrics.DiscoveryFailures.WithLabels(host);
        Assert.Equal(0, failures.Value);

        mesh.Resolver.Fail(new SocketException((int)SocketError.TryAgain));
        Assert.False(await mesh.Discovery.RefreshAsync(CancellationToken.None));
        mesh.Resolver.Answer();
        Assert.False(await mesh.Discovery.RefreshAsync(CancellationToken.None));
        mesh.Resolver.Hang();
        Assert.False(await mesh.Discovery.RefreshAsync(CancellationToken.None));

        Assert.False(good.ChangeToken.HasChanged);
        Assert.Same(good, mesh.Proxy.GetConfig());
        Assert.Equal(["http://10.0.1.1:8000/", "http://10.0.1.2:8000/"], Addresses(good));
        Assert.Equal(3, failures.Value);
        Assert.Equal(2, GatewayMetrics.DiscoveredAddresses.WithLabels(host).Value);

        // Once DNS answers again, its answer counts.
        mesh.Resolver.Answer("10.0.1.2");
        Assert.True(await mesh.Discovery.RefreshAsync(CancellationToken.None));
        Assert.Equal(["http://10.0.1.2:8000/"], Addresses(mesh.Proxy.GetConfig()));
    }

    [Fact]
    public async Task Discovered_destinations_get_the_pool_metadata_health_checks_and_balancing_of_declared_ones()
    {
        using var mesh = new DiscoveredMesh("same.mesh.test", new BackendEndpoint { Name = "fixed", Address = "http://10.9.9.9:8000/", Pool = "shared", Variant = "declared" });
        mesh.Resolver.Answer("10.0.2.1", "fd00::7");
        await mesh.Discovery.RefreshAsync(CancellationToken.None);

        var config = mesh.Proxy.GetConfig();
        var discovered = Cluster(config);
        var declared = config.Clusters.Single(c => c.ClusterId == FleetProxyConfigProvider.ClusterId("shared", "declared"));
        Assert.Equal("v", discovered.Metadata![FleetProxyConfigProvider.VariantKey]);
        Assert.Equal("realtime", discovered.Metadata[FleetProxyConfigProvider.PoolKey]);
        Assert.Equal(declared.HealthCheck, discovered.HealthCheck);
        Assert.Equal(declared.LoadBalancingPolicy, discovered.LoadBalancingPolicy);
        Assert.Equal(declared.HttpRequest, discovered.HttpRequest);

        var v6 = discovered.Destinations!["pool/fd00::7"];
        Assert.Equal("http://[fd00::7]:8000/", v6.Address);
        Assert.Equal("same.mesh.test:8000", v6.Host);
        Assert.Equal("http://10.9.9.9:8000/", Assert.Single(declared.Destinations!).Value.Address);
    }

    [Fact]
    public async Task A_host_added_to_the_fleet_is_resolved_and_a_removed_one_dropped()
    {
        using var mesh = new DiscoveredMesh("first.mesh.test");
        mesh.Resolver.Answer("10.0.3.1");
        await mesh.Discovery.RefreshAsync(CancellationToken.None);

        mesh.Fleet.Set(new FleetOptions { Backends = [Discovered("other", "second.mesh.test", "v")] });
        Assert.Empty(Cluster(mesh.Proxy.GetConfig()).Destinations!);
        Assert.True(await mesh.Discovery.RefreshAsync(CancellationToken.None));

        Assert.Equal(["http://10.0.3.1:8000/"], Addresses(mesh.Proxy.GetConfig()));
        Assert.Equal(["other/10.0.3.1"], Cluster(mesh.Proxy.GetConfig()).Destinations!.Keys);
        Assert.Empty(mesh.Discovery.AddressesOf("first.mesh.test"));
        Assert.Equal(["first.mesh.test", "second.mesh.test"], mesh.Resolver.Asked.Distinct());
    }

    [Fact]
    public async Task The_running_service_resolves_before_it_starts_and_then_on_its_own()
    {
        using var mesh = new DiscoveredMesh("loop.mesh.test", refreshMs: 100);
        mesh.Resolver.Answer("10.0.4.1");
        await mesh.Discovery.StartAsync(CancellationToken.None);
        try
        {
            var started = mesh.Proxy.GetConfig();
            Assert.Equal(["http://10.0.4.1:8000/"], Addresses(started));

            using var changed = new SemaphoreSlim(0);
            using var registration = started.ChangeToken.RegisterChangeCallback(_ => changed.Release(), null);
            mesh.Resolver.Answer("10.0.4.1", "10.0.4.2");
            Assert.True(await changed.WaitAsync(TimeSpan.FromSeconds(10)), "no new config after the records changed");
            Assert.Equal(2, Addresses(mesh.Proxy.GetConfig()).Length);
        }
        finally
        {
            await mesh.Discovery.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task The_hosts_file_resolver_reads_names_and_aliases_and_knows_no_others()
    {
        var path = Path.GetTempFileName();
        try
        {
            await File.WriteAllLinesAsync(path, [
                "# pool of two",
                "127.0.0.1   pool.mesh.test",
                "127.0.0.2\tpool.mesh.test other # the second",
                "::1 Pool.Mesh.Test",
                "not-an-address pool.mesh.test",
            ]);
            var resolver = new HostsFileAddressResolver(path);

            Assert.Equal(
                [IPAddress.Parse("127.0.0.1"), IPAddress.Parse("127.0.0.2"), IPAddress.IPv6Loopback],
                await resolver.ResolveAsync("pool.mesh.test", CancellationToken.None));
            Assert.Equal([IPAddress.Parse("127.0.0.2")], await resolver.ResolveAsync("other", CancellationToken.None));
            var unknown = await Assert.ThrowsAsync<SocketException>(() => resolver.ResolveAsync("missing.mesh.test", CancellationToken.None));
            Assert.Equal(SocketError.HostNotFound, unknown.SocketErrorCode);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("Mesh:Discovery:RefreshMs", "0")]
    [InlineData("Mesh:Discovery:TimeoutMs", "100000")]
    [InlineData("Mesh:Discovery:HostsFile", "/no/such/hosts")]
    public void Discovery_settings_out_of_range_are_refused(string key, string value)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection([new(key, value)]).Build();
        using var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddGateway().BuildServiceProvider();

        Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<DiscoveryOptions>>().Value);
    }

    private static BackendEndpoint Discovered(string name, string host, string variant) =>
        new() { Name = name, Address = $"http://{host}:8000/", Pool = "realtime", Variant = variant, Discover = true };

    private static ClusterConfig Cluster(IProxyConfig config) =>
        config.Clusters.Single(c => c.ClusterId == FleetProxyConfigProvider.ClusterId("realtime", "v"));

    private static string[] Addresses(IProxyConfig config) =>
        [.. Cluster(config).Destinations!.Values.Select(d => d.Address).Order(StringComparer.Ordinal)];

    /// <summary>A fleet with one discovered pool (<c>realtime:v</c>, entry <c>pool</c>), the discovery over a scripted resolver, and the proxy configuration built from both.</summary>
    private sealed class DiscoveredMesh : IDisposable
    {
        public DiscoveredMesh(string host, BackendEndpoint? declared = null, int refreshMs = 60_000, int timeoutMs = 2_000)
        {
            Fleet = new TestOptionsMonitor<FleetOptions>(new FleetOptions { Backends = [Discovered("pool", host, "v"), .. declared is null ? [] : new[] { declared }] });
            Discovery = new BackendDiscovery(
                Fleet, Options.Create(new DiscoveryOptions { RefreshMs = refreshMs, TimeoutMs = timeoutMs }), Resolver, NullLogger<BackendDiscovery>.Instance);
            Proxy = new FleetProxyConfigProvider(Fleet, new TestOptionsMonitor<BalancingOptions>(new()), Discovery);
        }

        public ScriptedResolver Resolver { get; } = new();

        public TestOptionsMonitor<FleetOptions> Fleet { get; }

        public BackendDiscovery Discovery { get; }

        public FleetProxyConfigProvider Proxy { get; }

        public void Dispose()
        {
            Proxy.Dispose();
            Discovery.Dispose();
        }
    }

    /// <summary>Answers every host with what the test last set: addresses, an error, or never.</summary>
    private sealed class ScriptedResolver : IBackendAddressResolver
    {
        private volatile Func<CancellationToken, Task<IReadOnlyList<IPAddress>>> _answer = _ => Task.FromResult<IReadOnlyList<IPAddress>>([]);

        public List<string> Asked { get; } = [];

        public void Answer(params string[] addresses) =>
            _answer = _ => Task.FromResult<IReadOnlyList<IPAddress>>([.. addresses.Select(IPAddress.Parse)]);

        public void Fail(Exception error) => _answer = _ => Task.FromException<IReadOnlyList<IPAddress>>(error);

        /// <summary>A lookup that never answers and ignores cancellation, as a stuck resolver would.</summary>
        public void Hang() => _answer = _ => new TaskCompletionSource<IReadOnlyList<IPAddress>>().Task;

        public Task<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken cancellationToken)
        {
            lock (Asked)
            {
                Asked.Add(host);
            }

            return _answer(cancellationToken);
        }
    }
}
