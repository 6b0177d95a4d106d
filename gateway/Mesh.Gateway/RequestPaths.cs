namespace Mesh.Gateway;

/// <summary>
/// Paths as the gateway's routes, YARP's and the backends' match them: letter case ignored and a trailing slash
/// dropped. A check that compared paths more strictly than the routes would let another spelling of a path past it.
/// </summary>
public static class RequestPaths
{
    /// <summary>The path without trailing slashes (the root stays <c>/</c>); compare it ignoring case, as <see cref="Is"/> does.</summary>
    public static string Trimmed(PathString path)
    {
        var trimmed = (path.Value ?? "").TrimEnd('/');
        return trimmed.Length == 0 ? "/" : trimmed;
    }

    /// <summary>Whether a path from <see cref="Trimmed"/> is <paramref name="route"/>, in any letter case.</summary>
    public static bool Is(string trimmedPath, string route) => string.Equals(trimmedPath, route, StringComparison.OrdinalIgnoreCase);
}
