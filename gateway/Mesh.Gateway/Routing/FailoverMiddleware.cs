using System.Net;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Transforms;

namespace Mesh.Gateway.Routing;

/// <summary>
/// Failover before the first byte: a request whose backend refused or reset the connection, or answered 500/502/503/429
/// (it failed or declined before any audio), is sent once more to another healthy backend of its cluster, with its
/// buffered body. Never after a response byte went to the client. YARP has no retries of its own, so this wraps load
/// balancing in the proxy pipeline. A request that both backends took and then dropped without an answer is not sent
/// a third time: it may be what ended them (an input their synthesizer crashes on).
/// </summary>
public sealed class FailoverMiddleware(RequestDelegate next)
{
    private static readonly object RetryableItem = new();
    private static readonly object RetryRequestedItem = new();
    private static readonly object DroppedTwiceItem = new();

    /// <summary>Whether the backend tried first and the one failed over to both took the request and dropped it unanswered.</summary>
    public static bool DroppedByBothBackends(HttpContext context) => context.Items.ContainsKey(DroppedTwiceItem);

    public async Task InvokeAsync(HttpContext context)
    {
        var proxy = context.GetReverseProxyFeature();
        var candidates = proxy.AvailableDestinations;
        // Only when another backend exists may a refused answer be held back from the client.
        context.Items[RetryableItem] = candidates.Count > 1;
        await next(context);

        var failed = proxy.ProxiedDestination;
        if (failed is null || context.Response.HasStarted || !ShouldRetry(context))
        {
            return;
        }

        var firstDropped = WasDropped(context);
        var reason = context.GetForwarderErrorFeature()?.Error.ToString() ?? context.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var decision = RouteDecision.Of(context);
        GatewayMetrics.Retries.WithLabels(decision?.Variant ?? "none", decision?.Pool ?? "none", reason).Inc();

        context.Items[RetryableItem] = false;
        context.Items.Remove(RetryRequestedItem);
        context.Features.Set<IForwarderErrorFeature>(null);
        context.Response.Clear();
        if (context.Request.Body.CanSeek)
        {
            context.Request.Body.Position = 0;
        }

        proxy.AvailableDestinations = [.. candidates.Where(d => d != failed)];
        await next(context);
        if (firstDropped && WasDropped(context))
        {
            context.Items[DroppedTwiceItem] = true;
        }
    }

    // A timed-out backend (or its 504) may still be working on the request; a retry would double the wait, so timeouts do not retry.

    /// <summary>
    /// A response transform: a 500, 502, 503 or 429 from the backend is not copied to the client while a retry is
    /// possible; the middleware retries instead. Backends start a response with its first audio, so these came before any.
    /// </summary>
    public static ValueTask HoldBackRefusalAsync(ResponseTransformContext transform)
    {
        var context = transform.HttpContext;
        if (transform.ProxyResponse?.StatusCode is HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.TooManyRequests &&
            context.Items.TryGetValue(RetryableItem, out var retryable) && retryable is true)
        {
            transform.SuppressResponseBody = true;
            context.Items[RetryRequestedItem] = true;
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// The backend took the connection and the request, then closed it without an answer, as a process that dies of
    /// the request does; not a connection that could not be made, which the request never reached.
    /// </summary>
    private static bool WasDropped(HttpContext context) =>
        context.GetForwarderErrorFeature() is { Error: ForwarderError.Request, Exception: HttpRequestException failure } &&
        failure.HttpRequestError is not (HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError);

    private static bool ShouldRetry(HttpContext context) =>
        context.Items.ContainsKey(RetryRequestedItem) ||
        (context.GetForwarderErrorFeature()?.Error is ForwarderError.Request && context.Items[RetryableItem] is true);
}
