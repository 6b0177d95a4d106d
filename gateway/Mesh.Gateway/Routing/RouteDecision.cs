namespace Mesh.Gateway.Routing;

/// <summary>Where a request goes: its priority class, A/B variant and pool (for admission, headers and metric labels).</summary>
/// <param name="IsServerSentEvents">The response will be an SSE stream, whose failure mid-stream is marked by an event.</param>
public sealed record RouteDecision(string Priority, string Variant, string Pool, bool IsServerSentEvents)
{
    private static readonly object ItemKey = new();

    public static RouteDecision? Of(HttpContext context) => context.Items.TryGetValue(ItemKey, out var value) ? value as RouteDecision : null;

    public void AttachTo(HttpContext context) => context.Items[ItemKey] = this;
}
