using Mesh.Contracts;
using Mesh.Contracts.Http;
using Mesh.Gateway.Routing;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.Gateway.Streaming;

/// <summary>
/// Makes a stream that breaks after its first byte end visibly, and counts it. YARP aborts the client connection
/// when the backend's body fails; for SSE that abort is held back so the client gets an <c>error</c> event and a
/// clean end instead. Raw PCM and audio keep the abort: a truncated chunked transfer is their marked end.
/// </summary>
public sealed class StreamEndMiddleware(RequestDelegate next)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var decision = RouteDecision.Of(context);
        if (decision is not { IsServerSentEvents: true })
        {
            await next(context);
            CountIfBroken(context, decision, "audio");
            return;
        }

        var lifetime = context.Features.GetRequiredFeature<IHttpRequestLifetimeFeature>();
        var deferred = new DeferredAbortFeature(lifetime);
        context.Features.Set<IHttpRequestLifetimeFeature>(deferred);
        try
        {
            await next(context);
        }
        finally
        {
            context.Features.Set(lifetime);
        }

        if (!CountIfBroken(context, decision, "sse"))
        {
            if (deferred.AbortRequested)
            {
                lifetime.Abort();
            }

            return;
        }

        var failure = ApiError.Unavailable("The backend failed while streaming; the audio is incomplete.", "backend_failed_mid_stream");
        try
        {
            await context.Response.Body.WriteAsync(ServerSentEvents.Error(failure), CancellationToken.None);
            await context.Response.Body.FlushAsync(CancellationToken.None);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            // The client is gone too; nothing left to mark.
            lifetime.Abort();
        }
    }

    /// <summary>True when the backend broke the response after it started; counted per surface.</summary>
    private static bool CountIfBroken(HttpContext context, RouteDecision? decision, string surface)
    {
        var error = context.GetForwarderErrorFeature()?.Error;
        if (!context.Response.HasStarted || error is not (ForwarderError.ResponseBodyDestination or ForwarderError.ResponseBodyCanceled))
        {
            return false;
        }

        if (error == ForwarderError.ResponseBodyCanceled && context.RequestAborted.IsCancellationRequested)
        {
            return false; // the client left; not a backend failure
        }

        GatewayMetrics.StreamFailures.WithLabels(decision?.Variant ?? "none", decision?.Pool ?? "none", surface).Inc();
        return true;
    }

    /// <summary>Passes everything through but remembers an abort instead of doing it.</summary>
    private sealed class DeferredAbortFeature(IHttpRequestLifetimeFeature inner) : IHttpRequestLifetimeFeature
    {
        public bool AbortRequested { get; private set; }

        public CancellationToken RequestAborted
        {
            get => inner.RequestAborted;
            set => inner.RequestAborted = value;
        }

        public void Abort() => AbortRequested = true;
    }
}
