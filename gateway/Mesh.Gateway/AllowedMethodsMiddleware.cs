using Mesh.Contracts.Http;

namespace Mesh.Gateway;

/// <summary>
/// Answers a known path asked with the wrong method with 405, <c>Allow</c> and the envelope. Without it the speech paths
/// (proxied for every method) would cost a backend round trip, and the gateway's own GET paths would fall through to
/// the 404 fallback.
/// </summary>
public sealed class AllowedMethodsMiddleware(RequestDelegate next)
{
    private const string ModelsPrefix = "/v1/models/";
    private const string ModelRoute = ModelsPrefix + "{id}";

    // The WebSocket paths are left out: a plain request there is answered with websocket_required, whatever its method.
    private static readonly Dictionary<string, string> Allowed = new(StringComparer.OrdinalIgnoreCase)
    {
        ["/v1/audio/speech"] = HttpMethods.Post,
        ["/v1/audio/speech/stream"] = HttpMethods.Post,
        ["/v1/audio/speech/stream/pcm"] = HttpMethods.Post,
        ["/v1/models"] = HttpMethods.Get,
        [ModelRoute] = HttpMethods.Get,
        ["/v1/audio/voices"] = HttpMethods.Get,
        ["/v1/mesh/variants"] = HttpMethods.Get,
        ["/healthz"] = HttpMethods.Get,
        ["/readyz"] = HttpMethods.Get,
        ["/metrics"] = HttpMethods.Get,
        ["/"] = HttpMethods.Get,
        ["/playground.css"] = HttpMethods.Get,
        ["/playground.js"] = HttpMethods.Get,
    };

    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        if (Allowed.TryGetValue(Route(RequestPaths.Trimmed(request.Path)), out var allowed) && !IsAllowed(request.Method, allowed))
        {
            var methods = allowed == HttpMethods.Get ? string.Join(", ", ReadEndpoints.Methods) : allowed;
            context.Response.Headers.Allow = methods;
            return ApiResults.WriteErrorAsync(context, ApiResults.MethodNotAllowed(request.Method, request.Path, methods));
        }

        return next(context);
    }

    private static string Route(string path) =>
        path.Length > ModelsPrefix.Length && path.StartsWith(ModelsPrefix, StringComparison.OrdinalIgnoreCase) && path.IndexOf('/', ModelsPrefix.Length) < 0
            ? ModelRoute
            : path;

    // What may be read with GET may be asked for with HEAD (ReadEndpoints).
    private static bool IsAllowed(string method, string allowed) =>
        HttpMethods.Equals(method, allowed) || (allowed == HttpMethods.Get && HttpMethods.IsHead(method));
}
