using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Mesh.Gateway.Auth;

/// <summary>
/// Checks presented keys against the configured SHA-256 hashes, comparing every entry in constant time, and holds a
/// token bucket per key. Follows configuration changes, so adding or revoking a key needs no restart; a change that
/// fails to bind or to validate is logged and the keys in force stay.
/// </summary>
public sealed class ApiKeyStore : IDisposable
{
    private readonly IDisposable? _subscription;

    // Swapped whole on a reload, never changed in place: a request keeps the key (and bucket) it found.
    private volatile ApiKey[] _keys;

    /// <param name="options">Registered as a <see cref="LastValidOptionsMonitor{TOptions}"/>, which passes on only changes that bind and validate.</param>
    public ApiKeyStore(IOptionsMonitor<AuthOptions> options)
    {
        _keys = Load(options.CurrentValue, []);
        _subscription = options.OnChange(changed => _keys = Load(changed, _keys));
    }

    public bool HasKeys => _keys.Length > 0;

    /// <summary>The key whose hash matches <paramref name="presentedKey"/>, or null; every key is compared.</summary>
    public ApiKey? Find(string presentedKey)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(presentedKey));
        ApiKey? match = null;
        foreach (var key in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, key.Hash))
            {
                match = key;
            }
        }

        return match;
    }

    public void Dispose() => _subscription?.Dispose();

    public static string HashOf(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>
    /// The keys of <paramref name="options"/>, each keeping its bucket from <paramref name="previous"/> when its limits are
    /// unchanged, so saving the keys file hands no client a fresh burst. Names are unique (validated), so a name finds
    /// the one bucket it had.
    /// </summary>
    private static ApiKey[] Load(AuthOptions options, ApiKey[] previous)
    {
        var buckets = previous.ToDictionary(key => key.Entry.Name, key => key.Bucket, StringComparer.Ordinal);
        return [.. options.Keys.Select(entry => new ApiKey(
            entry,
            Convert.FromHexString(entry.Sha256),
            buckets.TryGetValue(entry.Name, out var bucket) && bucket.RequestsPerSecond == entry.RequestsPerSecond && bucket.Burst == entry.Burst
                ? bucket
                : new TokenBucket(entry.RequestsPerSecond, entry.Burst)))];
    }

}

/// <summary>A configured key: its entry, the hash it is found by and the token bucket of its limits.</summary>
public sealed class ApiKey(ApiKeyEntry entry, byte[] hash, TokenBucket bucket)
{
    public ApiKeyEntry Entry => entry;

    public TokenBucket Bucket => bucket;

    internal byte[] Hash => hash;
}
