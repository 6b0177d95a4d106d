using Mesh.Bench.Load;

namespace Mesh.Tests.Bench;

public sealed class PoissonArrivalsTests
{
    [Fact]
    public void Arrivals_come_at_the_rate_with_exponential_gaps()
    {
        const double rate = 50;
        const double seconds = 200;
        var times = new PoissonArrivals(rate, new Random(21)).Until(seconds).ToArray();
        var gaps = times.Zip(times.Skip(1), (a, b) => b - a).ToArray();

        // Count ~ Poisson(10000): within four standard deviations.
        Assert.InRange(times.Length, rate * seconds - 4 * Math.Sqrt(rate * seconds), rate * seconds + 4 * Math.Sqrt(rate * seconds));
        Assert.All(times.Zip(times.Skip(1)), pair => Assert.True(pair.Second >= pair.First));
        Assert.True(times[^1] < seconds);
        var mean = gaps.Average();
        Assert.InRange(mean, 0.98 / rate, 1.02 / rate);
        // An exponential's standard deviation equals its mean, and 1 - 1/e of it lies below the mean.
        var deviation = Math.Sqrt(gaps.Average(g => (g - mean) * (g - mean)));
        Assert.InRange(deviation / mean, 0.95, 1.05);
        Assert.InRange(gaps.Count(g => g < mean) / (double)gaps.Length, 1 - 1 / Math.E - 0.02, 1 - 1 / Math.E + 0.02);
    }

    [Fact]
    public void The_same_seed_gives_the_same_arrivals()
    {
        Assert.Equal(new PoissonArrivals(5, new Random(4)).Until(10), new PoissonArrivals(5, new Random(4)).Until(10));
    }

    [Fact]
    public void A_rate_must_be_positive()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new PoissonArrivals(0, new Random(1)));
    }
}
