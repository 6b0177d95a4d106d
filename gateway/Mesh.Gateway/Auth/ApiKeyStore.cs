using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace Mesh.Gateway.Auth;

/// <summary>
/// Checks presented keys against the configured SHA-256 hashes, comparing every entry in constant time, and holds a
/// token bucket per key. Follows configuration changes, so adding or revoking a key needs no restart.
/// </summary>
public sealed class ApiKeyStore : IDisposable
{
    private readonly IDisposable? _subscription;
    private readonly ConcurrentDictionary<string, TokenBucketRateLimiter> _buckets = new(StringComparer.Ordinal);
    private volatile (ApiKeyEntry Entry, byte[] Hash)[] _keys;

    public ApiKeyStore(IOptionsMonitor<AuthOptions> options)
    {
        _keys = Load(options.CurrentValue);
        _subscription = options.OnChange(current =>
        {
            _keys = Load(current);
            // Limits may have changed; buckets are rebuilt lazily from the new entries.
            foreach (var bucket in _buckets.Values)
            {
                bucket.Dispose();
            }

            _buckets.Clear();
        });
    }

    public bool HasKeys => _keys.Length > 0;

    /// <summary>The entry whose hash matches <paramref name="presentedKey"/>, or null; every entry is compared.</summary>
    public ApiKeyEntry? Find(string presentedKey)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(presentedKey));
        ApiKeyEntry? match = null;
        foreach (var (entry, expected) in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, expected))
            {
                match = entry;
            }
        }

        return match;
    }

    /// <summary>Takes one token from the key's bucket; when empty, says how long until the next one.</summary>
    public bool TryAcquire(ApiKeyEntry entry, out TimeSpan retryAfter)
    {
        var bucket = _buckets.GetOrAdd(entry.Name, _ => new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = entry.Burst,
            TokensPerPeriod = Math.Max(1, (int)Math.Round(entry.RequestsPerSecond)),
            ReplenishmentPeriod = entry.RequestsPerSecond >= 1
                ? TimeSpan.FromSeconds(Math.Round(entry.RequestsPerSecond) / entry.RequestsPerSecond)
                : TimeSpan.FromSeconds(1 / entry.RequestsPerSecond),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));
        using var lease = bucket.AttemptAcquire();
        retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
        return lease.IsAcquired;
    }

    public void Dispose()
    {
        _subscription?.Dispose();
        foreach (var bucket in _buckets.Values)
        {
            bucket.Dispose();
        }
    }

    public static string HashOf(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private static (ApiKeyEntry, byte[])[] Load(AuthOptions options) =>
        [.. options.Keys.Select(entry => (entry, Convert.FromHexString(entry.Sha256)))];
}
