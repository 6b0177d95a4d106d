using Mesh.Contracts;
using Mesh.Contracts.Http;
using Mesh.Gateway.Routing;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Mesh.Gateway.Streaming;

/// <summary>
/// Ends a proxied response whose client stopped reading but stays connected: each write to it must make progress within
/// <see cref="StreamBufferOptions.StallTimeout"/> (one <see cref="WriteStallGuard"/> per response), else the client's
/// connection is aborted, which ends the request to the backend and frees the admission slot. A fast backend never
/// notices such a client itself: its writes go into the gateway's buffers until they fill, and then its own guard ends
/// the stream, which the gateway would not see while its write to the client blocks.
/// </summary>
public sealed partial class StalledClientMiddleware(
    RequestDelegate next, IOptions<GatewayStreamBufferOptions> buffers, ILogger<StalledClientMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (context.WebSockets.IsWebSocketRequest)
        {
            await next(context);
            return;
        }

        var body = context.Response.Body;
        // The connection's own lifetime: the SSE stream end holds YARP's abort back, to write its error event first.
        var connection = context.Features.GetRequiredFeature<IHttpRequestLifetimeFeature>();
        using var lifetime = new SynchronouslyAbortedLifetime(connection);
        using var stall = new WriteStallGuard(buffers.Value.StallTimeout, lifetime.Abort);
        context.Features.Set<IHttpRequestLifetimeFeature>(lifetime);
        context.Response.Body = new StallGuardedStream(body, stall);
        try
        {
            await next(context);
        }
        finally
        {
            context.Features.Set(connection);
            context.Response.Body = body;
        }

        if (stall.Stalled)
        {
            CountStall(context, logger, buffers.Value.StallTimeoutSeconds);
        }
    }

    /// <summary>Counts and logs a stream cut for its stalled client; proxied responses and the WebSocket relay share it.</summary>
    internal static void CountStall(HttpContext context, ILogger logger, int stallSeconds)
    {
        var decision = RouteDecision.Of(context);
        GatewayMetrics.StalledStreams.WithLabels(decision?.Variant ?? "none", decision?.Pool ?? "none").Inc();
        LogStalled(logger, context.Request.Headers[MeshHeaders.RequestId].ToString(), stallSeconds);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Request {RequestId}: the client took none of the stream for {StallSeconds} s; its connection is aborted")]
    private static partial void LogStalled(ILogger logger, string requestId, int stallSeconds);

    /// <summary>
    /// A request lifetime whose abort cancels <see cref="RequestAborted"/> before it returns. Kestrel cancels its own
    /// token later, from the thread pool; YARP, its write ended by the abort before that, would take a stall cut for
    /// the client's error and log it, stack trace and all, as a warning, where a cancellation of
    /// <see cref="RequestAborted"/> is the client leaving, which it logs at debug level.
    /// </summary>
    private sealed class SynchronouslyAbortedLifetime(IHttpRequestLifetimeFeature connection) : IHttpRequestLifetimeFeature, IDisposable
    {
        private readonly CancellationTokenSource _aborted = CancellationTokenSource.CreateLinkedTokenSource(connection.RequestAborted);

        public CancellationToken RequestAborted
        {
            get => _aborted.Token;
            set => throw new NotSupportedException("The token is the connection's, cancelled at once by an abort.");
        }

        public void Abort()
        {
            try
            {
                _aborted.Cancel();
            }
            finally
            {
                // A callback that throws must not keep the stalled connection open: the abort is what the guard is for.
                connection.Abort();
            }
        }

        public void Dispose() => _aborted.Dispose();
    }
}
