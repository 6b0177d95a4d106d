using Mesh.Contracts;
using Mesh.Contracts.Http;

namespace Mesh.Gateway;

/// <summary>
/// Gives every request an <c>X-Request-Id</c> (the caller's, if plain) that the backend sees and the client gets back,
/// and notes its arrival: it runs before anything that times the request or reads the id.
/// </summary>
public sealed class RequestIdMiddleware(RequestDelegate next, ILogger<RequestIdMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        RequestArrival.Mark(context);
        var requestId = RequestIds.FromHeader(context.Request.Headers[MeshHeaders.RequestId]);
        context.Request.Headers[MeshHeaders.RequestId] = requestId;
        context.Response.OnStarting(() =>
        {
            // A proxied response already carries the backend's echo of the same id.
            context.Response.Headers.TryAdd(MeshHeaders.RequestId, requestId);
            return Task.CompletedTask;
        });
        using (logger.BeginRequestScope(requestId))
        {
            await next(context);
        }
    }
}
