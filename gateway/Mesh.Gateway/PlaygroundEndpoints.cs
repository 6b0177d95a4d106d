using System.Security.Cryptography;
using Mesh.Contracts.Http;
using Microsoft.Net.Http.Headers;

namespace Mesh.Gateway;

/// <summary>
/// The playground at <c>/</c>: one static page (HTML, style sheet, script, embedded in this assembly so a published
/// gateway needs no content folder) that calls the public API from the browser. It is open like health and metrics:
/// the page holds nothing secret, and the API calls it makes carry the user's key.
/// </summary>
public static class PlaygroundEndpoints
{
    // Only the gateway's own script, styles and API; no inline code, no other origins, no framing.
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly (string Path, string Resource, string ContentType)[] Assets =
    [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/playground.css", "playground.css", "text/css; charset=utf-8"),
        ("/playground.js", "playground.js", "text/javascript; charset=utf-8"),
    ];

    /// <summary>The page's paths, open without a key like health and metrics.</summary>
    public static IEnumerable<string> Paths => Assets.Select(asset => asset.Path);

    public static IEndpointRouteBuilder MapPlayground(this IEndpointRouteBuilder app)
    {
        foreach (var (path, resource, contentType) in Assets)
        {
            var content = Load(resource);
            var entityTag = new EntityTagHeaderValue($"\"{Convert.ToHexStringLower(SHA256.HashData(content))[..16]}\"");
            app.MapGetAndHead(path, (HttpContext context) =>
            {
                var headers = context.Response.Headers;
                // Revalidated on every load (answered 304 by the tag), so a new gateway's page is never mixed with an old script.
                headers.CacheControl = "no-cache";
                headers.ContentSecurityPolicy = ContentSecurityPolicy;
                headers.XContentTypeOptions = "nosniff";
                headers["Referrer-Policy"] = "no-referrer";
                return TypedResults.Bytes(content, contentType, entityTag: entityTag);
            });
        }

        return app;
    }

    private static byte[] Load(string name)
    {
        using var stream = typeof(PlaygroundEndpoints).Assembly.GetManifestResourceStream("Playground/" + name)
            ?? throw new InvalidOperationException($"The playground asset '{name}' is not embedded in the gateway.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
