namespace Mesh.Gateway;

/// <summary>
/// Paths as the gateway's routes, YARP's and the backends' match them: letter case ignored and one trailing slash
/// dropped. A check that compared paths more strictly than the routes would let another spelling of a path past it;
/// one that compared them more loosely would answer for paths no route serves.
/// </summary>
public static class RequestPaths
{
    /// <summary>
    /// The path without its trailing slash; compare it ignoring case, as <see cref="Is"/> does. Routing takes one
    /// trailing slash and no more, so a path ending in two is kept whole, and so is the root: neither <c>//</c> nor the
    /// empty path of an <c>OPTIONS *</c> or <c>CONNECT</c> request is <c>/</c>.
    /// </summary>
    public static string Trimmed(PathString path)
    {
        var value = path.Value ?? "";
        return value.Length > 1 && value[^1] == '/' && value[^2] != '/' ? value[..^1] : value;
    }

    /// <summary>Whether a path from <see cref="Trimmed"/> is <paramref name="route"/>, in any letter case.</summary>
    public static bool Is(string trimmedPath, string route) => string.Equals(trimmedPath, route, StringComparison.OrdinalIgnoreCase);
}
