using ScottPlot;

namespace Mesh.ModelTools.Compare;

/// <summary>The comparison as a picture: SNR, mel distance and latency per utterance, one panel each.</summary>
public static class ComparisonPlot
{
    public static void Save(ComparisonResult result, string path, double snrTarget = 25)
    {
        ArgumentNullException.ThrowIfNull(result);
        var positions = result.Utterances.Select(u => (double)u.Index).ToArray();
        var multiplot = new Multiplot();
        var panels = result.MelDistance is null ? 2 : 3;
        multiplot.AddPlots(panels);

        var snr = multiplot.GetPlot(0);
        snr.Add.Bars(positions, [.. result.Utterances.Select(u => u.Snr.Db)]);
        var target = snr.Add.HorizontalLine(snrTarget);
        target.LinePattern = LinePattern.Dashed;
        target.LegendText = $"{snrTarget:0} dB";
        snr.Title($"{result.Kind}: {result.PrecisionB} (b) against {result.PrecisionA} (a), SNR {result.SnrDb:0.0} dB overall");
        snr.YLabel("SNR (dB)");
        snr.Axes.Margins(bottom: 0);
        snr.ShowLegend(Alignment.LowerRight);

        if (result.MelDistance is { } melOverall)
        {
            var mel = multiplot.GetPlot(1);
            mel.Add.Bars(positions, [.. result.Utterances.Select(u => u.Mel!.Value.Db)]);
            mel.Title($"log-mel distance {melOverall:0.00} dB overall");
            mel.YLabel("mel distance (dB)");
            mel.Axes.Margins(bottom: 0);
        }

        var latency = multiplot.GetPlot(panels - 1);
        var a = latency.Add.Bars(positions.Select(p => p - 0.2).ToArray(), [.. result.Utterances.Select(u => u.LatencyAMs)]);
        var b = latency.Add.Bars(positions.Select(p => p + 0.2).ToArray(), [.. result.Utterances.Select(u => u.LatencyBMs)]);
        foreach (var bar in a.Bars.Concat(b.Bars))
        {
            bar.Size = 0.4;
        }

        a.LegendText = $"a {result.PrecisionA}";
        b.LegendText = $"b {result.PrecisionB}";
        latency.Title($"latency: b/a = {result.LatencyRatio:0.00}");
        latency.YLabel("ms");
        latency.XLabel("utterance");
        latency.Axes.Margins(bottom: 0);
        latency.ShowLegend(Alignment.UpperRight);

        multiplot.SavePng(path, 1200, 300 * panels);
    }
}
