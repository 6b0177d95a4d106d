namespace Mesh.Bench.Load;

/// <summary>Percentiles and bootstrap confidence intervals over latency samples.</summary>
public static class Statistics
{
    /// <summary>
    /// The <paramref name="quantile"/> of <paramref name="values"/> by linear interpolation between closest ranks (the
    /// definition numpy and R use by default), so small samples give stable, comparable figures. NaN when empty.
    /// </summary>
    public static double Percentile(IEnumerable<double> values, double quantile)
    {
        var sorted = values.ToArray();
        Array.Sort(sorted);
        return PercentileOfSorted(sorted, quantile);
    }

    /// <summary><see cref="Percentile"/> of values already sorted in ascending order.</summary>
    public static double PercentileOfSorted(IReadOnlyList<double> sorted, double quantile)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(quantile, 0.0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quantile, 1.0);
        if (sorted.Count == 0)
        {
            return double.NaN;
        }

        var rank = quantile * (sorted.Count - 1);
        var lower = (int)Math.Floor(rank);
        var upper = Math.Min(lower + 1, sorted.Count - 1);
        return sorted[lower] + (rank - lower) * (sorted[upper] - sorted[lower]);
    }

    /// <summary>
    /// Percentile bootstrap of <c>statistic(b) - statistic(a)</c>: both samples are resampled with replacement
    /// <paramref name="resamples"/> times and the central <paramref name="confidence"/> share of the differences is the
    /// interval. Seeded, so a report can be reproduced from its samples.
    /// </summary>
    public static ConfidenceInterval BootstrapDifference(
        IReadOnlyList<double> a, IReadOnlyList<double> b, Func<double[], double> statistic, int resamples = 2000, double confidence = 0.95, int seed = 17) =>
        Bootstrap(a, b, statistic, (x, y) => y - x, resamples, confidence, seed);

    /// <summary>As <see cref="BootstrapDifference"/>, for <c>statistic(b) / statistic(a)</c>.</summary>
    public static ConfidenceInterval BootstrapRatio(
        IReadOnlyList<double> a, IReadOnlyList<double> b, Func<double[], double> statistic, int resamples = 2000, double confidence = 0.95, int seed = 17) =>
        Bootstrap(a, b, statistic, (x, y) => y / x, resamples, confidence, seed);

    /// <summary>A statistic for <see cref="BootstrapDifference"/>: the <paramref name="quantile"/> of a sample.</summary>
    public static Func<double[], double> QuantileOf(double quantile) => sample => Percentile(sample, quantile);

    private static ConfidenceInterval Bootstrap(
        IReadOnlyList<double> a, IReadOnlyList<double> b, Func<double[], double> statistic, Func<double, double, double> compare, int resamples, double confidence, int seed)
    {
        ArgumentNullException.ThrowIfNull(statistic);
        if (a.Count == 0 || b.Count == 0)
        {
            return new ConfidenceInterval(double.NaN, double.NaN, double.NaN);
        }

        var random = new Random(seed);
        var compared = new double[resamples];
        var sampleA = new double[a.Count];
        var sampleB = new double[b.Count];
        for (var i = 0; i < resamples; i++)
        {
            Resample(a, sampleA, random);
            Resample(b, sampleB, random);
            compared[i] = compare(statistic(sampleA), statistic(sampleB));
        }

        Array.Sort(compared);
        var tail = (1 - confidence) / 2;
        return new ConfidenceInterval(
            compare(statistic([.. a]), statistic([.. b])), PercentileOfSorted(compared, tail), PercentileOfSorted(compared, 1 - tail));
    }

    private static void Resample(IReadOnlyList<double> source, double[] target, Random random)
    {
        for (var i = 0; i < target.Length; i++)
        {
            target[i] = source[random.Next(source.Count)];
        }
    }
}

/// <param name="Estimate">The statistic's difference on the samples as measured.</param>
public sealed record ConfidenceInterval(double Estimate, double Lower, double Upper);

/// <summary>Count and the usual percentiles of one latency sample, in its own unit.</summary>
public sealed record Summary(int Count, double Mean, double P50, double P90, double P99, double Max)
{
    public static Summary Of(IEnumerable<double> values)
    {
        var sorted = values.Where(double.IsFinite).ToArray();
        Array.Sort(sorted);
        return sorted.Length == 0
            ? new Summary(0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN)
            : new Summary(
                sorted.Length,
                sorted.Average(),
                Statistics.PercentileOfSorted(sorted, 0.50),
                Statistics.PercentileOfSorted(sorted, 0.90),
                Statistics.PercentileOfSorted(sorted, 0.99),
                sorted[^1]);
    }
}
