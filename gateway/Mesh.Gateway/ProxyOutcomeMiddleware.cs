using Mesh.Contracts;
using Mesh.Contracts.Http;
using Mesh.Gateway.Balancing;
using Mesh.Gateway.Health;
using Mesh.Gateway.Routing;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Transforms;

namespace Mesh.Gateway;

/// <summary>
/// Around the whole forward (after failover): turns YARP's bare errors into the API's envelope — no healthy backend or
/// a backend that failed before answering is a 503 with <c>Retry-After</c> at once (for no healthy backend, the time
/// until one is expected back), a backend that did not answer in time a 504 — and times every outcome but an accepted WebSocket, whose requests the relay times one by one. After the
/// first byte nothing can be rewritten; the stream just ends.
/// </summary>
public sealed partial class ProxyOutcomeMiddleware(RequestDelegate next, EjectedBackends ejected, ILogger<ProxyOutcomeMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        await next(context);

        var decision = RouteDecision.Of(context)!;
        var error = context.GetForwarderErrorFeature();
        if (error is not null && !context.Response.HasStarted && error.Error != ForwarderError.RequestCanceled)
        {
            LogForwardFailed(logger, error.Error, error.Exception?.Message);
            var droppedTwice = FailoverMiddleware.DroppedByBothBackends(context);
            var apiError = error.Error switch
            {
                _ when droppedTwice => new ApiError(
                    StatusCodes.Status502BadGateway,
                    "Both backends that took this request closed the connection without answering; it is not retried, as it may be what ended them.",
                    ErrorTypes.Server,
                    null,
                    "request_dropped"),
                ForwarderError.NoAvailableDestinations => EjectedBackends.NoHealthyBackend,
                ForwarderError.RequestTimedOut => new ApiError(StatusCodes.Status504GatewayTimeout, "The backend did not answer in time.", ErrorTypes.Server, null, "backend_timeout"),
                _ => ApiError.Unavailable("The backend failed before answering; retry shortly.", "backend_unavailable"),
            };
            context.Response.Clear();
            if (error.Error == ForwarderError.NoAvailableDestinations)
            {
                ejected.AdviseRetry(context.Response, context.GetReverseProxyFeature().AllDestinations);
            }
            else if (droppedTwice)
            {
                // The OpenAI SDKs retry every 5xx twice unless told not to.
                context.Response.Headers[MeshHeaders.ShouldRetry] = "false";
            }

            await ApiResults.WriteErrorAsync(context, apiError);
        }

        if (context.Response.StatusCode != StatusCodes.Status101SwitchingProtocols)
        {
            GatewayMetrics.RequestDuration.WithLabels(decision.Variant, decision.Pool, decision.Priority).Observe(RequestArrival.Elapsed(context).TotalSeconds);
        }
    }

    /// <summary>
    /// A response transform: notes the backend's reported load and the time to the response's start. Backends start
    /// their response with the first audio, so that is the time to first audio as the gateway sees it.
    /// </summary>
    public static ValueTask ObserveResponseAsync(ResponseTransformContext transform, BackendLoad load)
    {
        var context = transform.HttpContext;
        if (transform.ProxyResponse is not { } response)
        {
            return ValueTask.CompletedTask;
        }

        if (context.GetReverseProxyFeature().ProxiedDestination is { } destination &&
            response.Headers.TryGetValues(BackendLoad.Header, out var values))
        {
            load.Report(destination.DestinationId, values.FirstOrDefault());
        }

        transform.HttpContext.Response.Headers.Remove(BackendLoad.Header);
        if (response.IsSuccessStatusCode && RouteDecision.Of(context) is { } decision)
        {
            GatewayMetrics.TimeToFirstAudio.WithLabels(decision.Variant, decision.Pool, decision.Priority).Observe(RequestArrival.Elapsed(context).TotalSeconds);
        }

        return ValueTask.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Forwarding failed: {Error} {Detail}")]
    private static partial void LogForwardFailed(ILogger logger, ForwarderError error, string? detail);
}
