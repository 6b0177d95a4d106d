using Mesh.Contracts.Http;

namespace Mesh.Gateway;

/// <summary>
/// Answers a known path asked with the wrong method with 405, <c>Allow</c> and the envelope, and a GET on a WebSocket
/// path that is no handshake as the backends do (<see cref="WebSocketHandshakes"/>). Without it the speech and
/// WebSocket paths (proxied for every method) would cost a backend round trip, and the gateway's own GET paths would
/// fall through to the 404 fallback.
/// </summary>
public sealed class AllowedMethodsMiddleware(RequestDelegate next)
{
    private const string ModelsPrefix = "/v1/models/";
    private const string ModelRoute = ModelsPrefix + "{id}";

    private static readonly IReadOnlyList<string> Post = [HttpMethods.Post];

    // What may be read with GET may be asked for with HEAD (ReadEndpoints).
    private static readonly IReadOnlyList<string> Read = ReadEndpoints.Methods;

    // A WebSocket handshake is a GET (RFC 6455 §4.1).
    private static readonly IReadOnlyList<string> WebSocket = [HttpMethods.Get];

    private static readonly Dictionary<string, IReadOnlyList<string>> Allowed = new(StringComparer.OrdinalIgnoreCase)
    {
        ["/v1/audio/speech"] = Post,
        ["/v1/audio/speech/stream"] = Post,
        ["/v1/audio/speech/stream/pcm"] = Post,
        ["/v1/models"] = Read,
        [ModelRoute] = Read,
        ["/v1/audio/voices"] = Read,
        ["/v1/mesh/variants"] = Read,
        ["/healthz"] = Read,
        ["/readyz"] = Read,
        ["/metrics"] = Read,
        ["/"] = Read,
        ["/playground.css"] = Read,
        ["/playground.js"] = Read,
    };

    static AllowedMethodsMiddleware()
    {
        foreach (var path in WebSocketHandshakes.Paths)
        {
            Allowed[path] = WebSocket;
        }
    }

    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        var route = Route(RequestPaths.Trimmed(request.Path));
        if (!Allowed.TryGetValue(route, out var allowed))
        {
            return next(context);
        }

        if (!allowed.Any(method => HttpMethods.Equals(method, request.Method)))
        {
            var methods = string.Join(", ", allowed);
            context.Response.Headers.Allow = methods;
            return ApiResults.WriteErrorAsync(context, ApiResults.MethodNotAllowed(request.Method, request.Path, methods));
        }

        return WebSocketHandshakes.Paths.Contains(route, StringComparer.OrdinalIgnoreCase) && !context.WebSockets.IsWebSocketRequest
            ? WebSocketHandshakes.Refusal(request).ExecuteAsync(context)
            : next(context);
    }

    private static string Route(string path) =>
        path.Length > ModelsPrefix.Length && path.StartsWith(ModelsPrefix, StringComparison.OrdinalIgnoreCase) && path.IndexOf('/', ModelsPrefix.Length) < 0
            ? ModelRoute
            : path;
}
