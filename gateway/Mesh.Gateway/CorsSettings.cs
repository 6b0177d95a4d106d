namespace Mesh.Gateway;

/// <summary>
/// Cross-origin access for browsers (section <c>Mesh:Cors</c>). Empty, the default, means no CORS at all: a page from
/// another origin cannot call the API. Each entry is an origin exactly as browsers send it, <c>scheme://host[:port]</c>.
/// </summary>
public sealed class CorsSettings
{
    public const string Section = "Mesh:Cors";

    public List<string> AllowedOrigins { get; set; } = [];

    /// <summary>True when <paramref name="origin"/> is an http(s) origin with nothing after the authority.</summary>
    public static bool IsOrigin(string origin) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" &&
        string.Equals(uri.GetLeftPart(UriPartial.Authority), origin, StringComparison.OrdinalIgnoreCase);
}
