using ScottPlot;
using SkiaSharp;

namespace Mesh.Tests.Observability;

/// <summary>One line (range query) or one bar (instant query) of a panel: its legend and its points over time.</summary>
public sealed record SeriesData(string Legend, IReadOnlyList<(double Seconds, double Value)> Points);

public sealed record PanelData(DashboardPanel Panel, IReadOnlyList<SeriesData> Series);

/// <summary>
/// Draws a dashboard as Grafana would lay it out (its 24-column grid), each panel a chart of its queries' results,
/// so a reviewer without Grafana can see what the panels show. Units follow the panel's unit: percentages in %,
/// bytes in MiB, seconds as they are.
/// </summary>
public static class DashboardRenderer
{
    private const int ColumnWidth = 80;
    private const int RowHeight = 40;
    private const int HeaderHeight = 56;

    public static void RenderPng(DashboardFile dashboard, IReadOnlyList<PanelData> panels, string subtitle, string path)
    {
        var width = 24 * ColumnWidth;
        var height = HeaderHeight + panels.Max(p => p.Panel.Grid.Y + p.Panel.Grid.Height) * RowHeight;
        using var bitmap = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            using var titleFont = new SKFont(SKTypeface.Default, 26);
            using var subtitleFont = new SKFont(SKTypeface.Default, 15);
            using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            using var grey = new SKPaint { Color = SKColors.DimGray, IsAntialias = true };
            canvas.DrawText(dashboard.Title, 12, 30, titleFont, ink);
            canvas.DrawText(subtitle, 12, 50, subtitleFont, grey);

            foreach (var panel in panels)
            {
                var grid = panel.Panel.Grid;
                var bytes = RenderPanel(panel).GetImageBytes(grid.Width * ColumnWidth - 8, grid.Height * RowHeight - 8, ImageFormat.Png);
                using var image = SKBitmap.Decode(bytes);
                canvas.DrawBitmap(image, grid.X * ColumnWidth + 4, HeaderHeight + grid.Y * RowHeight + 4);
            }
        }

        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, data.ToArray());
    }

    private static Plot RenderPanel(PanelData data)
    {
        var panel = data.Panel;
        var (scale, unitLabel, unitSuffix) = Scale(panel.Unit);
        var plot = new Plot();
        plot.Title(panel.Title, 15);
        plot.FigureBackground.Color = Colors.White;
        plot.DataBackground.Color = Color.FromHex("#f7f8fa");
        var palette = new ScottPlot.Palettes.Category10();

        if (data.Series.Count == 0)
        {
            plot.Add.Annotation("No data");
            return plot;
        }

        if (panel.Type == "bargauge")
        {
            var values = data.Series.Select(s => s.Points.Count > 0 ? s.Points[^1].Value * scale : 0).ToArray();
            var bars = data.Series.Select((s, i) => new Bar
            {
                Position = i,
                Value = double.IsFinite(values[i]) ? values[i] : 0,
                FillColor = palette.GetColor(i),
                Label = FormatValue(values[i], unitSuffix),
                Orientation = Orientation.Horizontal,
            }).ToArray();
            var plottable = plot.Add.Bars(bars);
            plottable.ValueLabelStyle.FontSize = 14;
            plot.Axes.Left.SetTicks([.. Enumerable.Range(0, bars.Length).Select(i => (double)i)], [.. data.Series.Select(s => s.Legend)]);
            plot.Axes.Margins(left: 0, right: 0.25, bottom: 0.1, top: 0.1);
            plot.XLabel(unitLabel);
            return plot;
        }

        for (var i = 0; i < data.Series.Count; i++)
        {
            var series = data.Series[i];
            var color = palette.GetColor(i);
            var labelled = false;
            // Gaps (no sample, NaN) split a line as Grafana does instead of joining across them.
            foreach (var segment in Segments(series.Points))
            {
                var line = plot.Add.ScatterLine(segment.Select(p => p.Seconds).ToArray(), segment.Select(p => p.Value * scale).ToArray());
                line.Color = color;
                line.LineWidth = 2;
                line.MarkerSize = segment.Count == 1 ? 5 : 0;
                if (!labelled)
                {
                    line.LegendText = series.Legend;
                    labelled = true;
                }
            }
        }

        foreach (var threshold in panel.ThresholdLines)
        {
            var line = plot.Add.HorizontalLine(threshold * scale);
            line.Color = Colors.Red;
            line.LinePattern = LinePattern.Dashed;
        }

        plot.XLabel("seconds into the test run");
        plot.YLabel(unitLabel);
        if (panel.Min is not null || panel.Max is not null)
        {
            plot.Axes.AutoScale();
            var limits = plot.Axes.GetLimits();
            var bottom = panel.Min * scale ?? limits.Bottom;
            var top = Math.Max(panel.Max * scale ?? limits.Top, limits.Top);
            top = top > bottom ? top : bottom + 1;
            // A little room, so a line on a fixed bound (readiness at 1, an idle queue at 0) stays visible.
            var pad = (top - bottom) * 0.05;
            plot.Axes.SetLimitsY(bottom - pad, top + pad);
        }

        plot.ShowLegend(Alignment.UpperLeft);
        plot.Legend.FontSize = 11;
        return plot;
    }

    private static IEnumerable<List<(double Seconds, double Value)>> Segments(IReadOnlyList<(double Seconds, double Value)> points)
    {
        var segment = new List<(double Seconds, double Value)>();
        for (var i = 0; i < points.Count; i++)
        {
            var gap = i > 0 && points[i].Seconds - points[i - 1].Seconds > 1.5;
            if ((gap || !double.IsFinite(points[i].Value)) && segment.Count > 0)
            {
                yield return segment;
                segment = [];
            }

            if (double.IsFinite(points[i].Value))
            {
                segment.Add(points[i]);
            }
        }

        if (segment.Count > 0)
        {
            yield return segment;
        }
    }

    private static (double Scale, string Label, string Suffix) Scale(string unit) => unit switch
    {
        "s" => (1, "seconds", "s"),
        "percentunit" => (100, "%", "%"),
        "bytes" => (1.0 / (1 << 20), "MiB", "MiB"),
        "reqps" => (1, "requests/s", "/s"),
        "ops" => (1, "per second", "/s"),
        _ => (1, "", ""),
    };

    private static string FormatValue(double value, string unit) =>
        !double.IsFinite(value) ? "n/a" : value.ToString(Math.Abs(value) < 10 ? "0.###" : "0.#", System.Globalization.CultureInfo.InvariantCulture) + (unit.Length > 0 ? " " + unit : "");
}
