using Mesh.Contracts;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.Gateway;

/// <summary>
/// Turns YARP's bare errors into the API's envelope: no healthy backend, or a backend that failed before answering,
/// is a 503 with <c>Retry-After</c> at once. After the first byte nothing can be rewritten; the stream just ends.
/// </summary>
public sealed partial class ProxyErrorMiddleware(RequestDelegate next, ILogger<ProxyErrorMiddleware> logger)
{
    private const string RetryAfterSeconds = "1";

    public async Task InvokeAsync(HttpContext context)
    {
        await next(context);
        GatewayMetrics.Requests.WithLabels(context.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();

        var error = context.GetForwarderErrorFeature();
        if (error is null || context.Response.HasStarted || error.Error == ForwarderError.RequestCanceled)
        {
            return;
        }

        LogForwardFailed(logger, error.Error, error.Exception?.Message);
        var apiError = error.Error == ForwarderError.NoAvailableDestinations
            ? ApiError.Unavailable("No healthy backend is available; retry shortly.", "no_healthy_backend")
            : ApiError.Unavailable("The backend failed before answering; retry shortly.", "backend_unavailable");
        context.Response.Clear();
        context.Response.Headers.RetryAfter = RetryAfterSeconds;
        await Results.Json(apiError.ToEnvelope(), ContractsJsonContext.Default.ErrorEnvelope, statusCode: apiError.Status)
            .ExecuteAsync(context);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Forwarding failed: {Error} {Detail}")]
    private static partial void LogForwardFailed(ILogger logger, ForwarderError error, string? detail);
}
