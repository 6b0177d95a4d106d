using System.Diagnostics;

namespace Mesh.Gateway.Auth;

/// <summary>
/// A key's rate limit: <see cref="Burst"/> requests at once, refilled continuously at <see cref="RequestsPerSecond"/>.
/// The refill is worked out from the clock when a request comes, so a bucket owns no timer: one that a reload replaces
/// needs no disposing while a request may still be taking from it.
/// </summary>
public sealed class TokenBucket(double requestsPerSecond, int burst)
{
    private readonly Lock _lock = new();
    private double _tokens = burst;
    private long _refilledAt = Stopwatch.GetTimestamp();

    public double RequestsPerSecond => requestsPerSecond;

    public int Burst => burst;

    /// <summary>Takes one request's token; when none is left, says how long until the next one.</summary>
    public bool TryTake(out TimeSpan retryAfter)
    {
        lock (_lock)
        {
            var now = Stopwatch.GetTimestamp();
            _tokens = Math.Min(burst, _tokens + (Stopwatch.GetElapsedTime(_refilledAt, now).TotalSeconds * requestsPerSecond));
            _refilledAt = now;
            if (_tokens >= 1)
            {
                _tokens--;
                retryAfter = TimeSpan.Zero;
                return true;
            }

            retryAfter = TimeSpan.FromSeconds((1 - _tokens) / requestsPerSecond);
            return false;
        }
    }
}
