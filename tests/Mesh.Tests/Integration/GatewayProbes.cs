using System.Globalization;

namespace Mesh.Tests.Integration;

/// <summary>Waiting for the gateway's active health probes (every 2 s), which set its per-backend series in their own time.</summary>
public static class GatewayProbes
{
    /// <summary>Returns once <paramref name="series"/> reads <paramref name="value"/> for each of the gateway's <paramref name="backends"/> backends.</summary>
    public static Task UntilEveryBackendReadsAsync(HttpClient gateway, string series, int value, int backends)
    {
        var sample = string.Create(CultureInfo.InvariantCulture, $"}} {value}");
        return Eventually.UntilAsync(
            async () => (await gateway.GetStringAsync(new Uri("/metrics", UriKind.Relative))).Split('\n')
                .Count(line => line.StartsWith(series + "{", StringComparison.Ordinal) && line.EndsWith(sample, StringComparison.Ordinal)) == backends,
            $"the probes did not bring {series} to {value} for all {backends} backends");
    }
}
