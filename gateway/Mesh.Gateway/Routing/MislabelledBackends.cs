using System.Collections.Concurrent;

namespace Mesh.Gateway.Routing;

/// <summary>
/// Backends whose own variant label (<c>Backend__Variant</c>, sent in <c>X-Mesh-Variant</c>) differs from the variant
/// the gateway routes to them. The gateway's assignment is what the client is told, but the backend's series carry its
/// own label, so a dashboard comparing variants would misattribute them: each such backend is warned of once per label.
/// </summary>
public sealed partial class MislabelledBackends(ILogger<MislabelledBackends> logger)
{
    private readonly ConcurrentDictionary<(string Backend, string Label), bool> _warned = new();

    public void Check(string backend, string label, string assigned)
    {
        if (label != assigned && _warned.TryAdd((backend, label), true))
        {
            LogMislabelled(backend, label, assigned);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Backend {Backend} labels itself variant '{Label}' but serves the gateway's variant '{Assigned}'; its metrics carry the wrong variant until its Backend__Variant matches")]
    private partial void LogMislabelled(string backend, string label, string assigned);
}
