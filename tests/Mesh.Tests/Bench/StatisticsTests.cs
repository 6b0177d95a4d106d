using Mesh.Bench.Load;

namespace Mesh.Tests.Bench;

public sealed class StatisticsTests
{
    [Theory]
    [InlineData(new double[] { 1, 2, 3, 4 }, 0.5, 2.5)]
    [InlineData(new double[] { 10, 1, 7, 3, 5, 2, 9, 4, 8, 6 }, 0.9, 9.1)]
    [InlineData(new double[] { 10, 1, 7, 3, 5, 2, 9, 4, 8, 6 }, 0.0, 1)]
    [InlineData(new double[] { 10, 1, 7, 3, 5, 2, 9, 4, 8, 6 }, 1.0, 10)]
    [InlineData(new double[] { 42 }, 0.99, 42)]
    public void Percentiles_interpolate_between_closest_ranks_as_numpy_does(double[] values, double quantile, double expected)
    {
        Assert.Equal(expected, Statistics.Percentile(values, quantile), 9);
    }

    [Fact]
    public void The_99th_percentile_of_1_to_100_is_99_point_01()
    {
        Assert.Equal(99.01, Statistics.Percentile(Enumerable.Range(1, 100).Select(i => (double)i), 0.99), 9);
    }

    [Fact]
    public void A_percentile_of_nothing_is_not_a_number()
    {
        Assert.True(double.IsNaN(Statistics.Percentile([], 0.5)));
        Assert.Equal(0, Summary.Of([]).Count);
    }

    [Fact]
    public void The_bootstrap_interval_of_a_shifted_sample_holds_the_shift_and_excludes_zero()
    {
        var random = new Random(3);
        var a = Enumerable.Range(0, 400).Select(_ => Gaussian(random, 10, 1)).ToArray();
        var b = a.Select(x => x + 2).ToArray();

        var median = Statistics.BootstrapDifference(a, b, Statistics.QuantileOf(0.5));

        Assert.Equal(2.0, median.Estimate, 9);
        Assert.InRange(2.0, median.Lower, median.Upper);
        Assert.True(median.Lower > 0, $"interval [{median.Lower}, {median.Upper}] should exclude 0");
        Assert.True(median.Upper - median.Lower < 1.0, $"interval [{median.Lower}, {median.Upper}] is too wide for n=400");
    }

    [Fact]
    public void The_bootstrap_interval_of_two_draws_from_one_distribution_holds_zero_and_is_reproducible()
    {
        var random = new Random(5);
        var a = Enumerable.Range(0, 300).Select(_ => Gaussian(random, 50, 5)).ToArray();
        var b = Enumerable.Range(0, 300).Select(_ => Gaussian(random, 50, 5)).ToArray();

        var first = Statistics.BootstrapDifference(a, b, Statistics.QuantileOf(0.5), seed: 11);
        var again = Statistics.BootstrapDifference(a, b, Statistics.QuantileOf(0.5), seed: 11);

        Assert.InRange(0.0, first.Lower, first.Upper);
        Assert.Equal(first, again);
    }

    [Fact]
    public void A_wider_confidence_level_gives_a_wider_interval()
    {
        var random = new Random(8);
        var a = Enumerable.Range(0, 200).Select(_ => Gaussian(random, 20, 3)).ToArray();
        var b = Enumerable.Range(0, 200).Select(_ => Gaussian(random, 21, 3)).ToArray();

        var ninety = Statistics.BootstrapDifference(a, b, Statistics.QuantileOf(0.99), confidence: 0.90);
        var ninetyNine = Statistics.BootstrapDifference(a, b, Statistics.QuantileOf(0.99), confidence: 0.99);

        Assert.True(ninetyNine.Upper - ninetyNine.Lower > ninety.Upper - ninety.Lower);
    }

    [Fact]
    public void The_bootstrap_interval_of_a_ratio_holds_the_scale_and_excludes_one()
    {
        var random = new Random(13);
        var a = Enumerable.Range(0, 400).Select(_ => Gaussian(random, 10, 1)).ToArray();
        var b = a.Select(x => x * 1.2).ToArray();

        var ratio = Statistics.BootstrapRatio(a, b, Statistics.QuantileOf(0.5));

        Assert.Equal(1.2, ratio.Estimate, 9);
        Assert.InRange(1.2, ratio.Lower, ratio.Upper);
        Assert.True(ratio.Lower > 1, $"interval [{ratio.Lower}, {ratio.Upper}] should exclude 1");
    }

    private static double Gaussian(Random random, double mean, double deviation) =>
        mean + deviation * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
