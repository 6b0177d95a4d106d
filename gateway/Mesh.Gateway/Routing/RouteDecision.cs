namespace Mesh.Gateway.Routing;

/// <summary>Where a request goes: its priority class, A/B variant and pool (for admission, headers and metric labels).</summary>
public sealed record RouteDecision(string Priority, string Variant, string Pool)
{
    private static readonly object ItemKey = new();

    public static RouteDecision? Of(HttpContext context) => context.Items.TryGetValue(ItemKey, out var value) ? value as RouteDecision : null;

    public void AttachTo(HttpContext context) => context.Items[ItemKey] = this;
}
