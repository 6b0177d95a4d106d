using System.Net.Http.Headers;

namespace Mesh.Bench.Load;

/// <summary>A deployment to send requests to; <paramref name="Variant"/> pins the A/B variant (<c>X-Mesh-Variant</c>).</summary>
public sealed record Target(string Name, Uri Url, string? Variant = null)
{
    /// <summary>The URL with a trailing slash, so relative API paths keep any path prefix of the deployment.</summary>
    public Uri BaseUrl { get; } = Url.AbsoluteUri.EndsWith('/') ? Url : new Uri(Url.AbsoluteUri + "/");

    public override string ToString() => Variant is null ? $"{Name} ({Url})" : $"{Name} ({Url}, variant {Variant})";
}

/// <summary>What to ask for and how to listen.</summary>
/// <param name="FirstAudioOnly">Stop reading after the first audio (TTFA-only comparisons).</param>
/// <param name="Paced">Read as a player does: no further ahead of playback than its buffer, so a stream lasts as
/// long as its audio and N streams are N listeners, not N downloads as fast as the server can synthesize.</param>
public sealed record BenchRequest(RequestKind Kind, string Text, bool FirstAudioOnly = false, bool Paced = false);

/// <summary>Request fields every request shares.</summary>
/// <param name="ApiKey">Sent as <c>Authorization: Bearer</c>; a deployment with keys refuses every request without one.</param>
public sealed record RequestDefaults(string Model, string Voice, TimeSpan Timeout, string? ApiKey = null)
{
    /// <summary>
    /// Where the benchmarks take the key from: an environment variable keeps it out of the process list and out of the
    /// command line that <c>results.json</c> records.
    /// </summary>
    public const string ApiKeyVariable = "MESH_API_KEY";

    public static RequestDefaults Standard { get; } = new("tts-1", "alloy", TimeSpan.FromSeconds(120));

    public static string? ApiKeyFromEnvironment() => Environment.GetEnvironmentVariable(ApiKeyVariable) is { Length: > 0 } key ? key.Trim() : null;

    public AuthenticationHeaderValue? Authorization => Bearer(ApiKey);

    public static AuthenticationHeaderValue? Bearer(string? apiKey) => apiKey is null ? null : new AuthenticationHeaderValue("Bearer", apiKey);
}
