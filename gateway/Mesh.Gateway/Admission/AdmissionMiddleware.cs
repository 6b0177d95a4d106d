using System.Globalization;
using Mesh.Contracts;
using Mesh.Contracts.Http;
using Mesh.Gateway.Routing;
using Mesh.Gateway.Streaming;

namespace Mesh.Gateway.Admission;

/// <summary>
/// Holds each request in its class's queue until a slot is free, sheds it with 429 and <c>Retry-After</c> when the
/// queue is full, its deadline passes or realtime needs the room, and drops it silently if the client leaves. One still
/// waiting when shutdown's drain time runs out gets the 503 <c>draining</c> envelope, as a request still forwarded then
/// does (<see cref="DrainEndMiddleware"/>).
/// Every answer says how long it waited in <c>X-Mesh-Queue-Ms</c>. A WebSocket handshake passes through: the relay
/// admits the connection's requests one by one (<see cref="WebSocketAdmission"/>), so an idle socket holds no slot.
/// </summary>
public sealed class AdmissionMiddleware(RequestDelegate next, AdmissionController admission, DrainState drain)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (context.WebSockets.IsWebSocketRequest)
        {
            await next(context);
            return;
        }

        var decision = RouteDecision.Of(context)!;
        Admission? result;
        try
        {
            using var waiting = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, drain.DrainEnded);
            result = await AdmitAsync(admission, decision, context.RequestAborted, waiting.Token);
        }
        catch (OperationCanceledException) when (drain.DrainEnded.IsCancellationRequested)
        {
            await ApiResults.WriteErrorAsync(context, DrainEndMiddleware.DrainRanOut);
            return;
        }

        if (result is null)
        {
            return;
        }

        var queueMs = ((int)result.QueueWait.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        context.Response.OnStarting(() =>
        {
            // At the start, not now: a failover clears the response, headers included, before its second attempt.
            context.Response.Headers.TryAdd(MeshHeaders.QueueMs, queueMs);
            return Task.CompletedTask;
        });
        if (result.Lease is null)
        {
            await ApiResults.WriteErrorAsync(context, ShedError(decision, result.ShedReason!));
            return;
        }

        using (result.Lease)
        {
            await next(context);
        }
    }

    /// <summary>
    /// Asks for a slot for one request and counts the outcome: the wait in <c>mesh_queue_wait_seconds</c>, a shed
    /// request under its reason in <c>mesh_shed_total</c>. Null, counted as <c>client_gone</c>, when
    /// <paramref name="clientGone"/> says the client left while waiting; <paramref name="cancellationToken"/> (which
    /// includes it) may end the wait for other reasons, uncounted.
    /// </summary>
    internal static async Task<Admission?> AdmitAsync(
        AdmissionController admission, RouteDecision decision, CancellationToken clientGone, CancellationToken cancellationToken)
    {
        Admission result;
        try
        {
            result = await admission.AcquireAsync(decision.Priority, cancellationToken);
        }
        catch (OperationCanceledException) when (clientGone.IsCancellationRequested)
        {
            GatewayMetrics.Shed.WithLabels("client_gone", decision.Priority, decision.Variant).Inc();
            return null;
        }

        GatewayMetrics.QueueWait.WithLabels(decision.Priority, decision.Variant).Observe(result.QueueWait.TotalSeconds);
        if (result.ShedReason is { } reason)
        {
            GatewayMetrics.Shed.WithLabels(reason, decision.Priority, decision.Variant).Inc();
        }

        return result;
    }

    /// <summary>What a shed request is told: 429, <c>rate_limit_error</c>, the reason as its code.</summary>
    internal static ApiError ShedError(RouteDecision decision, string reason) => new(
        StatusCodes.Status429TooManyRequests,
        $"The gateway is saturated for {decision.Priority} requests ({reason}); retry shortly.",
        ErrorTypes.RateLimit,
        null,
        reason);
}
