using Mesh.Backend.Pipeline.Scheduling;
using Mesh.Contracts;
using Mesh.Contracts.Http;

namespace Mesh.Backend.Host;

/// <summary>Takes the gateway's <c>X-Request-Id</c> (or makes one), echoes it with <c>X-Mesh-Backend</c> and the load, and scopes logs to it.</summary>
public sealed class ResponseHeadersMiddleware(
    RequestDelegate next, ILogger<ResponseHeadersMiddleware> logger, Microsoft.Extensions.Options.IOptions<BackendOptions> backend, SynthesisScheduler scheduler)
{
    /// <summary>Reported on every response, probes included, so the gateway can balance by live load.</summary>
    public const string LoadHeader = "X-Mesh-Load";

    public async Task InvokeAsync(HttpContext context)
    {
        var requestId = RequestIds.FromHeader(context.Request.Headers[MeshHeaders.RequestId]);
        context.Response.Headers[MeshHeaders.RequestId] = requestId;
        context.Response.Headers[MeshHeaders.Backend] = backend.Value.Name;
        context.Response.Headers[MeshHeaders.Variant] = backend.Value.Variant;
        context.Response.OnStarting(() =>
        {
            context.Response.Headers[LoadHeader] = scheduler.Load.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Task.CompletedTask;
        });
        using (logger.BeginRequestScope(requestId))
        {
            await next(context);
        }
    }
}
