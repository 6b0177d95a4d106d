using Mesh.Contracts.Http;
using Mesh.Gateway.Health;
using Mesh.Gateway.Routing;
using Mesh.Gateway.Streaming;

namespace Mesh.Gateway;

/// <summary>
/// Counts every answer in <c>mesh_requests_total</c>, once, whoever gave it: the proxy, admission, routing, the key and
/// method checks or the 404 fallback. The labels are the route decision's, <c>none</c> where none was made. A request
/// whose client went away before its answer was complete counts as 499 (nginx's "client closed request"), not as the
/// status the gateway or YARP set for nobody to read. A response its backend broke after the status line went out
/// counts as 502, and an SSE stream its backend ended with its own <c>error</c> event as that event's status, not as the
/// 200 the client was sent: the error ratio has to see a backend failing mid-stream. One the end of shutdown's drain
/// ended counts as 503, as its <c>draining</c> error says, not as a client that left. The gateway's own probes and
/// scrapes are not client traffic. An accepted WebSocket upgrade (101) is not counted either: the relay counts each
/// request sent on the connection.
/// </summary>
public sealed class RequestCountingMiddleware(RequestDelegate next)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var path = RequestPaths.Trimmed(context.Request.Path);
        if (GatewayEndpoints.ProbePaths.Any(probe => RequestPaths.Is(path, probe)))
        {
            await next(context);
            return;
        }

        try
        {
            await next(context);
        }
        catch (Exception ex)
        {
            // The server answers an unhandled failure with 500, unless the response had already started.
            Count(context, context.Response.HasStarted ? context.Response.StatusCode : StatusCodes.Status500InternalServerError, ex);
            throw;
        }

        Count(context, context.Response.StatusCode);
    }

    private static void Count(HttpContext context, int status, Exception? failure = null)
    {
        if (status != StatusCodes.Status101SwitchingProtocols)
        {
            GatewayMetrics.CountRequest(RouteDecision.Of(context), Outcome(context, status, failure));
        }
    }

    private static int Outcome(HttpContext context, int status, Exception? failure) =>
        DrainEndMiddleware.EndedByDrain(context) ? StatusCodes.Status503ServiceUnavailable
        : StreamEndMiddleware.FailureStatus(context) is { } failed ? failed
        : ClientLeft(context, failure) ? MeshStatusCodes.ClientClosedRequest
        : status;

    private static bool ClientLeft(HttpContext context, Exception? failure)
    {
        // Cancelled for the client's departure: the server signals the request's token a moment after it aborts it.
        if (failure is OperationCanceledException cancelled && cancelled.CancellationToken == context.RequestAborted)
        {
            return true;
        }

        if (!context.RequestAborted.IsCancellationRequested)
        {
            return false;
        }

        // YARP also aborts the client's connection when a backend breaks a started response: that one is the backend's.
        return context.GetForwarderErrorFeature()?.Error is { } error ? !ServerErrorsPolicy.IsBackendFault(error) : !context.Response.HasStarted;
    }
}
