using System.Globalization;
using Mesh.Contracts;
using Mesh.Contracts.Http;
using Mesh.Gateway.Routing;

namespace Mesh.Gateway.Admission;

/// <summary>
/// Holds each request in its class's queue until a slot is free, sheds it with 429 and <c>Retry-After</c> when the
/// queue is full, its deadline passes or realtime needs the room, and drops it silently if the client leaves.
/// Every answer says how long it waited in <c>X-Mesh-Queue-Ms</c>.
/// </summary>
public sealed class AdmissionMiddleware(RequestDelegate next, AdmissionController admission)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var decision = RouteDecision.Of(context)!;
        Admission result;
        try
        {
            result = await admission.AcquireAsync(decision.Priority, context.RequestAborted);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            GatewayMetrics.Shed.WithLabels("client_gone", decision.Priority, decision.Variant).Inc();
            return;
        }

        GatewayMetrics.QueueWait.WithLabels(decision.Priority, decision.Variant).Observe(result.QueueWait.TotalSeconds);
        var queueMs = ((int)result.QueueWait.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        context.Response.OnStarting(() =>
        {
            // At the start, not now: a failover clears the response, headers included, before its second attempt.
            context.Response.Headers.TryAdd(MeshHeaders.QueueMs, queueMs);
            return Task.CompletedTask;
        });
        if (result.Lease is null)
        {
            GatewayMetrics.Shed.WithLabels(result.ShedReason!, decision.Priority, decision.Variant).Inc();
            var error = new ApiError(
                StatusCodes.Status429TooManyRequests,
                $"The gateway is saturated for {decision.Priority} requests ({result.ShedReason}); retry shortly.",
                ErrorTypes.RateLimit,
                null,
                result.ShedReason);
            await ApiResults.WriteErrorAsync(context, error);
            return;
        }

        using (result.Lease)
        {
            await next(context);
        }
    }
}
