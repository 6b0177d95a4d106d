namespace Mesh.Bench.Load;

/// <summary>
/// Arrival times of a Poisson process (open-loop load): gaps are exponential with mean 1/rate, independent of how
/// fast the target answers, so a slow target faces the same offered load instead of a politely waiting client.
/// </summary>
public sealed class PoissonArrivals
{
    private readonly double _rate;
    private readonly Random _random;

    public PoissonArrivals(double ratePerSecond, Random random)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ratePerSecond);
        _rate = ratePerSecond;
        _random = random;
    }

    /// <summary>Seconds until the next arrival.</summary>
    public double NextGapSeconds() => -Math.Log(1.0 - _random.NextDouble()) / _rate;

    /// <summary>Arrival times from 0 up to (not including) <paramref name="durationSeconds"/>.</summary>
    public IEnumerable<double> Until(double durationSeconds)
    {
        for (var t = NextGapSeconds(); t < durationSeconds; t += NextGapSeconds())
        {
            yield return t;
        }
    }
}
