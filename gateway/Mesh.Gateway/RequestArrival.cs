using System.Diagnostics;

namespace Mesh.Gateway;

/// <summary>When the gateway received a request: the series that time it from arrival count the admission queue too.</summary>
public static class RequestArrival
{
    private static readonly object Item = new();

    public static void Mark(HttpContext context) => context.Items[Item] = Stopwatch.GetTimestamp();

    public static TimeSpan Elapsed(HttpContext context) =>
        context.Items.TryGetValue(Item, out var arrived) && arrived is long timestamp ? Stopwatch.GetElapsedTime(timestamp) : TimeSpan.Zero;
}
