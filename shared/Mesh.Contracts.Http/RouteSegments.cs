using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Mesh.Contracts.Http;

/// <summary>
/// A route value taken from the path's last segment, decoded as the client escaped it. Kestrel decodes every escape in
/// a path but <c>%2F</c>, which would split the segment, so a route value keeps <c>%2F</c> for a slash and reads an
/// escaped <c>%</c> the same (<c>a%2Fb</c> and <c>a%252Fb</c> both arrive as <c>a%2Fb</c>); OpenAI's SDKs escape a slash
/// in an id (<c>org/model</c> as <c>org%2Fmodel</c>), so the segment is decoded anew from the request target as sent.
/// </summary>
public static class RouteSegments
{
    public static string LastDecoded(HttpRequest request, string routeValue)
    {
        var target = request.HttpContext.Features.GetRequiredFeature<IHttpRequestFeature>().RawTarget;
        var path = target.AsSpan(0, target.IndexOf('?') is var query and >= 0 ? query : target.Length);
        if (path.EndsWith("/"))
        {
            path = path[..^1];
        }

        var segment = path[(path.LastIndexOf('/') + 1)..].ToString();

        // Kestrel also drops dot segments (tts-1/x/..), so the target's last segment need not be the route's.
        return string.Equals(DecodedButSlashes(segment), routeValue, StringComparison.Ordinal) ? Uri.UnescapeDataString(segment) : routeValue;
    }

    /// <summary>The segment as Kestrel decodes a path: every escape but a slash's.</summary>
    private static string DecodedButSlashes(string segment) =>
        Uri.UnescapeDataString(segment.Replace("%2F", "%252F", StringComparison.Ordinal).Replace("%2f", "%252f", StringComparison.Ordinal));
}
