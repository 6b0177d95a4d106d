namespace Mesh.Contracts;

/// <summary>
/// The names operators give backends, variants and API keys. Each travels in a header (<c>X-Mesh-Backend</c>,
/// <c>X-Mesh-Variant</c>), a metric label or a log line, so it is kept short and to characters none of those escape.
/// </summary>
public static class MeshNames
{
    public const string Pattern = "^[A-Za-z0-9._-]{1,64}$";
}
