namespace Mesh.Bench.Load;

/// <summary>A deployment to send requests to; <paramref name="Variant"/> pins the A/B variant (<c>X-Mesh-Variant</c>).</summary>
public sealed record Target(string Name, Uri Url, string? Variant = null)
{
    /// <summary>The URL with a trailing slash, so relative API paths keep any path prefix of the deployment.</summary>
    public Uri BaseUrl { get; } = Url.AbsoluteUri.EndsWith('/') ? Url : new Uri(Url.AbsoluteUri + "/");

    public override string ToString() => Variant is null ? $"{Name} ({Url})" : $"{Name} ({Url}, variant {Variant})";
}

/// <summary>What to ask for; <paramref name="FirstAudioOnly"/> stops reading after the first audio (TTFA-only comparisons).</summary>
public sealed record BenchRequest(RequestKind Kind, string Text, bool FirstAudioOnly = false);

/// <summary>Request fields every request shares.</summary>
public sealed record RequestDefaults(string Model, string Voice, TimeSpan Timeout)
{
    public static RequestDefaults Standard { get; } = new("tts-1", "alloy", TimeSpan.FromSeconds(120));
}
