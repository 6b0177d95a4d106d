using Mesh.Bench;

namespace Mesh.Tests.Bench;

public sealed class TtfaReportTests
{
    [Fact]
    public void With_an_even_number_of_pairs_the_median_lies_between_the_middle_two()
    {
        // ./mesh bench pipeline --repeats 2 and --repeats 4: the median of 2 samples is their mean, not the smaller one.
        var two = TtfaReport.Of(new Uri("http://127.0.0.1:8080/"), [10, 20], [30, 50]);
        var four = TtfaReport.Of(new Uri("http://127.0.0.1:8080/"), [4, 1, 3, 2], [40, 10, 30, 20]);

        Assert.Equal(15, two.ShortP50, 9);
        Assert.Equal(40, two.LongP50, 9);
        Assert.Equal(40.0 / 15, two.LengthRatio, 9);
        Assert.Equal(2.5, four.ShortP50, 9);
        Assert.Equal(25, four.LongP50, 9);
    }

    [Fact]
    public void The_p90_of_fifteen_pairs_interpolates_as_the_load_benchmarks_percentiles_do()
    {
        double[] times = [.. Enumerable.Range(1, 15).Select(i => (double)i)];

        var report = TtfaReport.Of(new Uri("http://127.0.0.1:8080/"), times, times);

        Assert.Equal(8, report.ShortP50, 9);
        Assert.Equal(13.6, report.ShortP90, 9);
        Assert.Equal(1, report.LengthRatio, 9);
    }
}
