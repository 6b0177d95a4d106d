namespace Mesh.Gateway.Auth;

/// <summary>Who is calling: the API key's name when keys are in use, else what the client says or its address.</summary>
/// <param name="ClientId">The identity A/B assignment is sticky to.</param>
/// <param name="KeyName">The API key's name, or null when no keys are configured.</param>
/// <param name="AllowRealtime">Whether the caller may raise a batch request to realtime.</param>
/// <param name="RateLimit">The API key's token bucket, or null when no keys are configured.</param>
public sealed record ClientIdentity(string ClientId, string? KeyName, bool AllowRealtime, TokenBucket? RateLimit)
{
    private static readonly object ItemKey = new();

    public static ClientIdentity? Of(HttpContext context) => context.Items.TryGetValue(ItemKey, out var value) ? value as ClientIdentity : null;

    public void AttachTo(HttpContext context) => context.Items[ItemKey] = this;
}
