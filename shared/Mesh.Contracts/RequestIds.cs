namespace Mesh.Contracts;

/// <summary>Request ids as the contract allows them: a caller's id is kept if it is short and plain, else a new one is made.</summary>
public static class RequestIds
{
    public const int MaxLength = 128;

    public static string FromHeader(string? incoming) =>
        incoming is { Length: > 0 and <= MaxLength } && incoming.All(IsAllowed) ? incoming : New();

    public static string New() => Guid.NewGuid().ToString("N");

    private static bool IsAllowed(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':';
}
