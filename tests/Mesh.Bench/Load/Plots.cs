using System.Globalization;
using ScottPlot;

namespace Mesh.Bench.Load;

/// <summary>
/// The run's PNG plots: TTFA distribution per target, TTFA and throughput against concurrency, and the distribution
/// of inter-chunk gaps. Latencies span orders of magnitude (a few ms to seconds), so their axes are logarithmic.
/// </summary>
public static class Plots
{
    private const int Width = 1000;
    private const int Height = 600;

    /// <summary>Writes the plots into <paramref name="directory"/>; returns their file names.</summary>
    public static IReadOnlyList<string> Render(IReadOnlyList<RequestRecord> records, IReadOnlyList<SweepPoint> sweep, string directory)
    {
        var written = new List<string>();
        Save(TtfaCdf(records), directory, "ttfa-cdf.png", written);
        if (sweep.Count > 0)
        {
            Save(VersusConcurrency(sweep, p => [p.Ttfa.P50, p.Ttfa.P99], ["p50", "p99"], "TTFA (ms)", "TTFA vs concurrency", logY: true), directory, "ttfa-vs-concurrency.png", written);
            Save(VersusConcurrency(sweep, p => [p.Throughput], [""], "audio seconds per second", "Throughput vs concurrency", logY: false), directory, "throughput-vs-concurrency.png", written);
        }

        Save(GapDistribution(records), directory, "inter-chunk-gaps.png", written);
        return written;
    }

    private static void Save(Plot plot, string directory, string name, List<string> written)
    {
        plot.SavePng(Path.Combine(directory, name), Width, Height);
        written.Add(name);
    }

    /// <summary>
    /// One CDF line per target of each comparison (and concurrency, where a comparison ran at several): the two arms
    /// of a comparison share a colour, the baseline arm dashed.
    /// </summary>
    private static Plot TtfaCdf(IReadOnlyList<RequestRecord> records)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var comparisons = records
            .Where(r => r.Result.Ok && r.Result.TtfaMs > 0 && r.Phase is not Phases.Length and not Phases.NeuralLength)
            .GroupBy(r => r.Phase is Phases.Overhead or Phases.NeuralOverhead or Phases.AbTest ? $"{r.Phase}, {ResultsReport.Streams(r.Concurrency)}" : r.Phase)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToArray();
        for (var i = 0; i < comparisons.Length; i++)
        {
            foreach (var arm in comparisons[i].GroupBy(r => r.Arm).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                AddCdf(plot, [.. arm.Select(r => r.Result.TtfaMs!.Value)], $"{comparisons[i].Key} · {arm.Key}", palette.GetColor(i), dashed: arm.Key is BenchSession.DirectArm or "PowerOfTwoChoices" or "baseline");
            }
        }

        LogAxis(plot.Axes.Bottom, records.Where(r => r.Result.TtfaMs > 0).Select(r => r.Result.TtfaMs!.Value));
        plot.Title("Time to first audio, CDF per target");
        plot.XLabel("TTFA (ms, log scale)");
        plot.YLabel("share of requests");
        plot.ShowLegend(Alignment.LowerRight);
        return plot;
    }

    private static void AddCdf(Plot plot, double[] values, string label, Color color, bool dashed)
    {
        var sorted = values.Select(Math.Log10).Order().ToArray();
        var fractions = Enumerable.Range(1, sorted.Length).Select(i => (double)i / sorted.Length).ToArray();
        var line = plot.Add.ScatterLine(sorted, fractions);
        line.LegendText = $"{label} (n={sorted.Length})";
        line.LineWidth = 2;
        line.Color = color;
        line.LinePattern = dashed ? LinePattern.Dashed : LinePattern.Solid;
    }

    private static Plot VersusConcurrency(
        IReadOnlyList<SweepPoint> sweep, Func<SweepPoint, double[]> values, string[] names, string yLabel, string title, bool logY)
    {
        var plot = new Plot();
        foreach (var arm in sweep.GroupBy(p => p.Arm).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var points = arm.OrderBy(p => p.Concurrency).ToArray();
            var xs = points.Select(p => Math.Log2(p.Concurrency)).ToArray();
            for (var i = 0; i < names.Length; i++)
            {
                var ys = points.Select(p => values(p)[i]).Select(v => logY ? Math.Log10(Math.Max(v, 1e-3)) : v).ToArray();
                var line = plot.Add.Scatter(xs, ys);
                line.LegendText = names[i].Length == 0 ? arm.Key : $"{arm.Key} {names[i]}";
                line.LineWidth = 2;
                line.MarkerSize = 8;
            }
        }

        var levels = sweep.Select(p => p.Concurrency).Distinct().Order().ToArray();
        plot.Axes.Bottom.SetTicks([.. levels.Select(c => Math.Log2(c))], [.. levels.Select(c => c.ToString(CultureInfo.InvariantCulture))]);
        if (logY)
        {
            LogAxis(plot.Axes.Left, sweep.SelectMany(values).Where(v => v > 0));
        }

        plot.Title(title);
        plot.XLabel("concurrent streams (closed loop)");
        plot.YLabel(logY ? yLabel + ", log scale" : yLabel);
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }

    /// <summary>CDF of the gaps between audio chunks, one line per surface that plays as it streams.</summary>
    private static Plot GapDistribution(IReadOnlyList<RequestRecord> records)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var streamed = records.Where(r => r.Result.ServerTimed && RequestKinds.IsPlayedAsStreamed(r.Kind)).ToArray();
        var index = 0;
        foreach (var group in streamed.GroupBy(r => r.Kind).OrderBy(g => g.Key))
        {
            var gaps = group.SelectMany(r => r.Result.GapsMs).Where(g => g > 0).ToArray();
            if (gaps.Length > 0)
            {
                AddCdf(plot, gaps, RequestKinds.Name(group.Key), palette.GetColor(index++), dashed: false);
            }
        }

        LogAxis(plot.Axes.Bottom, streamed.SelectMany(r => r.Result.GapsMs));
        plot.Title("Inter-chunk gaps, CDF per streaming surface");
        plot.XLabel("gap between audio chunks (ms, log scale)");
        plot.YLabel("share of gaps");
        plot.ShowLegend(Alignment.LowerRight);
        return plot;
    }

    /// <summary>Ticks at 1-2-5 steps of each decade, for an axis whose data are log10 values.</summary>
    private static void LogAxis(IAxis axis, IEnumerable<double> values)
    {
        var positive = values.Where(v => v > 0 && double.IsFinite(v)).ToArray();
        if (positive.Length == 0)
        {
            return;
        }

        var low = (int)Math.Floor(Math.Log10(positive.Min()));
        var high = (int)Math.Ceiling(Math.Log10(positive.Max()));
        var ticks = new List<double>();
        for (var decade = low; decade <= high; decade++)
        {
            foreach (var step in new[] { 1.0, 2.0, 5.0 })
            {
                ticks.Add(step * Math.Pow(10, decade));
            }
        }

        axis.SetTicks([.. ticks.Select(Math.Log10)], [.. ticks.Select(t => t.ToString("0.###", CultureInfo.InvariantCulture))]);
    }
}
