using Mesh.Contracts;

namespace Mesh.Backend.Host;

/// <summary>Takes the gateway's <c>X-Request-Id</c> (or makes one), echoes it with <c>X-Mesh-Backend</c>, and scopes logs to it.</summary>
public sealed class RequestIdMiddleware(RequestDelegate next, ILogger<RequestIdMiddleware> logger, Microsoft.Extensions.Options.IOptions<BackendOptions> backend)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var requestId = RequestIds.FromHeader(context.Request.Headers[MeshHeaders.RequestId]);
        context.Response.Headers[MeshHeaders.RequestId] = requestId;
        context.Response.Headers[MeshHeaders.Backend] = backend.Value.Name;
        context.Response.Headers[MeshHeaders.Variant] = backend.Value.Variant;
        using (logger.BeginScope(new Dictionary<string, object> { ["RequestId"] = requestId }))
        {
            await next(context);
        }
    }
}
