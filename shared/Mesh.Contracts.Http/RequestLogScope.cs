using System.Collections;
using Microsoft.Extensions.Logging;

namespace Mesh.Contracts.Http;

/// <summary>
/// The log scope of one request: its <c>X-Request-Id</c>, as a property named after the header (ASP.NET's own scope
/// already has a <c>RequestId</c>, the connection's trace identifier) for the JSON formatter, and as
/// <c>X-Request-Id:ID</c> for the simple one, which prints a scope's text.
/// </summary>
public sealed class RequestLogScope(string requestId) : IReadOnlyList<KeyValuePair<string, object?>>
{
    public const string Property = MeshHeaders.RequestId;

    public int Count => 1;

    public KeyValuePair<string, object?> this[int index] =>
        index == 0 ? new(Property, requestId) : throw new ArgumentOutOfRangeException(nameof(index));

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        yield return this[0];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"{Property}:{requestId}";
}

public static class RequestLogScopes
{
    public static IDisposable? BeginRequestScope(this ILogger logger, string requestId) => logger.BeginScope(new RequestLogScope(requestId));
}
