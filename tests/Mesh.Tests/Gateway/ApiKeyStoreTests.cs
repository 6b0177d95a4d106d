using Mesh.Gateway;
using Mesh.Gateway.Auth;
using Mesh.Tests.Quantizer;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.Tests.Gateway;

/// <summary>Reloading the keys: validated like the start, each unchanged bucket kept, no bucket pulled from under a request.</summary>
public sealed class ApiKeyStoreTests
{
    [Fact]
    public void A_reload_keeps_the_bucket_of_unchanged_limits_and_starts_changed_ones_full()
    {
        using var keys = new ReloadableKeys(("a", 0.001, 1), ("b", 0.001, 1));
        var bucketOfA = keys.Store.Find("sk-a")!.Bucket;
        Assert.True(bucketOfA.TryTake(out _));
        Assert.True(keys.Store.Find("sk-b")!.Bucket.TryTake(out _));

        keys.Reload(("Mesh:Auth:Keys:1:Burst", "2"));

        Assert.Same(bucketOfA, keys.Store.Find("sk-a")!.Bucket);
        Assert.False(keys.Store.Find("sk-a")!.Bucket.TryTake(out var retryAfter), "saving the keys gave key a a fresh burst");
        Assert.InRange(retryAfter.TotalSeconds, 900, 1000);
        var bucketOfB = keys.Store.Find("sk-b")!.Bucket;
        Assert.Equal(2, bucketOfB.Burst);
        Assert.True(bucketOfB.TryTake(out _) && bucketOfB.TryTake(out _));
    }

    [Theory]
    [InlineData("Mesh:Auth:Keys:0:Burst", "0", "The setting Mesh:Auth:Keys:0:Burst must be between")]
    [InlineData("Mesh:Auth:Keys:0:RequestsPerSecond", "0", "The setting Mesh:Auth:Keys:0:RequestsPerSecond must be between")]
    [InlineData("Mesh:Auth:Keys:1:Name", "a", "'a' is used by 2 keys")]
    public void A_reload_that_fails_validation_keeps_the_keys_in_force_and_logs_why(string key, string value, string reason)
    {
        using var keys = new ReloadableKeys(("a", 0.001, 1), ("b", 0.001, 1));
        var bucketOfA = keys.Store.Find("sk-a")!.Bucket;

        keys.Reload((key, value), ("Mesh:Auth:Keys:2:Name", "c"), ("Mesh:Auth:Keys:2:Sha256", ApiKeyStore.HashOf("sk-c")));

        Assert.Null(keys.Store.Find("sk-c"));
        Assert.Same(bucketOfA, keys.Store.Find("sk-a")!.Bucket);
        Assert.Equal("b", keys.Store.Find("sk-b")!.Entry.Name);
        Assert.True(bucketOfA.TryTake(out _));
        Assert.Contains(keys.Log.Lines, line => line.StartsWith("Error: The changed AuthOptions settings were refused", StringComparison.Ordinal) && line.Contains(reason, StringComparison.Ordinal));
    }

    [Fact]
    public void A_key_found_before_a_reload_still_takes_from_its_bucket_after_it()
    {
        using var keys = new ReloadableKeys(("a", 0.001, 1));
        var found = keys.Store.Find("sk-a")!;

        keys.Reload(("Mesh:Auth:Keys:0:Burst", "2"));

        Assert.NotSame(found.Bucket, keys.Store.Find("sk-a")!.Bucket);
        Assert.True(found.Bucket.TryTake(out _));
    }

    [Fact]
    public async Task Requests_taking_from_buckets_while_the_keys_reload_never_fail()
    {
        // Enough keys and time that, with buckets disposed on a reload, a request met a disposed one in every run seen.
        const int count = 200;
        using var keys = new ReloadableKeys([.. Enumerable.Range(0, count).Select(i => ($"k{i}", 1e6, 1_000_000))]);
        var presented = Enumerable.Range(0, count).Select(i => $"sk-k{i}").ToArray();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(3));

        // Threads of their own, so both take from the buckets from the start even on a machine with few cores.
        var takers = Enumerable.Range(0, 2).Select(taker => Task.Factory.StartNew(() =>
        {
            var taken = 0;
            while (!stop.IsCancellationRequested)
            {
                foreach (var key in presented)
                {
                    taken += keys.Store.Find(key)!.Bucket.TryTake(out _) ? 1 : 0;
                }
            }

            return taken;
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        for (var reload = 0; !stop.IsCancellationRequested; reload++)
        {
            // New limits for every key, so every reload replaces every bucket.
            keys.Reload([.. Enumerable.Range(0, count).Select(i => ($"Mesh:Auth:Keys:{i}:Burst", (1_000_000 - (reload % 2)).ToString(System.Globalization.CultureInfo.InvariantCulture)))]);
        }

        Assert.All(await Task.WhenAll(takers), taken => Assert.True(taken > 0));
    }

    /// <summary>An <see cref="ApiKeyStore"/> over in-memory configuration that a test changes and reloads; key NAME is presented as <c>sk-NAME</c>.</summary>
    private sealed class ReloadableKeys : IDisposable
    {
        private readonly IConfigurationRoot _configuration;
        private readonly ServiceProvider _services;

        public ReloadableKeys(params (string Name, double RequestsPerSecond, int Burst)[] keys)
        {
            _configuration = new ConfigurationBuilder().AddInMemoryCollection(keys.SelectMany((key, i) => new Dictionary<string, string?>
            {
                [$"Mesh:Auth:Keys:{i}:Name"] = key.Name,
                [$"Mesh:Auth:Keys:{i}:Sha256"] = ApiKeyStore.HashOf("sk-" + key.Name),
                [$"Mesh:Auth:Keys:{i}:RequestsPerSecond"] = key.RequestsPerSecond.ToString(System.Globalization.CultureInfo.InvariantCulture),
                [$"Mesh:Auth:Keys:{i}:Burst"] = key.Burst.ToString(System.Globalization.CultureInfo.InvariantCulture),
            })).Build();
            _services = new ServiceCollection()
                .AddSingleton<IConfiguration>(_configuration)
                .AddLogging(logging => logging.AddProvider(new RecordingLoggerProvider(Log)))
                .AddGateway()
                .BuildServiceProvider();
            Store = _services.GetRequiredService<ApiKeyStore>();
        }

        public RecordingLogger Log { get; } = new();

        public ApiKeyStore Store { get; }

        /// <summary>Changes the settings and reloads, as saving the keys file does; the store follows before this returns.</summary>
        public void Reload(params (string Key, string Value)[] changes)
        {
            foreach (var (key, value) in changes)
            {
                _configuration[key] = value;
            }

            _configuration.Reload();
        }

        public void Dispose() => _services.Dispose();
    }
}
