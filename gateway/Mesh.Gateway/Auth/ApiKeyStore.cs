using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Mesh.Gateway.Auth;

/// <summary>
/// Checks presented keys against the configured SHA-256 hashes, comparing every entry in constant time, and holds a
/// token bucket per key. Follows configuration changes, so adding or revoking a key needs no restart; a change that
/// fails validation is logged and the keys in force stay.
/// </summary>
public sealed partial class ApiKeyStore : IDisposable
{
    private readonly IOptionsFactory<AuthOptions> _options;
    private readonly ILogger<ApiKeyStore> _logger;
    private readonly IDisposable[] _subscriptions;

    // Swapped whole on a reload, never changed in place: a request keeps the key (and bucket) it found.
    private volatile ApiKey[] _keys;

    public ApiKeyStore(IOptionsFactory<AuthOptions> options, IEnumerable<IOptionsChangeTokenSource<AuthOptions>> changes, ILogger<ApiKeyStore> logger)
    {
        _options = options;
        _logger = logger;
        _keys = Load(options.Create(Options.DefaultName), []);
        // What IOptionsMonitor would do, except that a change failing validation leaves the keys in force; the monitor
        // would throw on every read after it.
        _subscriptions = [.. changes.Where(source => source.Name == Options.DefaultName).Select(source => ChangeToken.OnChange(source.GetChangeToken, Reload))];
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

    public void Dispose()
    {
        foreach (var subscription in _subscriptions)
        {
            subscription.Dispose();
        }
    }

    public static string HashOf(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private void Reload()
    {
        AuthOptions options;
        try
        {
            options = _options.Create(Options.DefaultName);
        }
        catch (OptionsValidationException ex)
        {
            LogReloadRefused(_logger, _keys.Length, ex.Message);
            return;
        }

        _keys = Load(options, _keys);
    }

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

    [LoggerMessage(Level = LogLevel.Error, Message = "The changed API keys were refused; the {Count} keys in force stay: {Reason}")]
    private static partial void LogReloadRefused(ILogger logger, int count, string reason);
}

/// <summary>A configured key: its entry, the hash it is found by and the token bucket of its limits.</summary>
public sealed class ApiKey(ApiKeyEntry entry, byte[] hash, TokenBucket bucket)
{
    public ApiKeyEntry Entry => entry;

    public TokenBucket Bucket => bucket;

    internal byte[] Hash => hash;
}
