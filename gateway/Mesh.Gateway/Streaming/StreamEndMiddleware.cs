using Mesh.Contracts;
using Mesh.Contracts.Http;
using Mesh.Gateway.Routing;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.Gateway.Streaming;

/// <summary>
/// Makes a stream that breaks after its first byte end visibly, and counts it. YARP aborts the client connection
/// when the backend's body fails; for SSE that abort is held back so the client gets an <c>error</c> event and a
/// clean end instead. Raw PCM and audio keep the abort: a truncated chunked transfer is their marked end. A stream the
/// end of shutdown's drain ends (<see cref="DrainEndMiddleware"/>) ends so too, with a 503 <c>draining</c> error event,
/// and is no backend's failure.
/// <para>
/// A sentence event carries hundreds of KiB of audio, so a backend can die part way through one. The gateway then ends
/// that event before its error event: the cut event cannot be parsed, but the error event after it can, where it
/// would otherwise have extended the cut event into one unreadable line.
/// </para>
/// </summary>
public sealed class StreamEndMiddleware(RequestDelegate next)
{
    private static readonly object CutItem = new();
    private static readonly ApiError BackendFailed = ApiError.Unavailable("The backend failed while streaming; the audio is incomplete.", "backend_failed_mid_stream");

    /// <summary>Whether the backend broke this request's response after it started: one of <c>mesh_stream_failures_total</c>.</summary>
    public static bool CutByBackend(HttpContext context) => context.Items.ContainsKey(CutItem);

    public async Task InvokeAsync(HttpContext context)
    {
        var decision = RouteDecision.Of(context);
        if (decision is not { IsServerSentEvents: true })
        {
            await next(context);
            MarkedEnd(context, decision, "audio");
            return;
        }

        var lifetime = context.Features.GetRequiredFeature<IHttpRequestLifetimeFeature>();
        var deferred = new DeferredAbortFeature(lifetime);
        context.Features.Set<IHttpRequestLifetimeFeature>(deferred);
        var body = context.Response.Body;
        var forwarded = new EventBoundaryStream(body);
        context.Response.Body = forwarded;
        try
        {
            await next(context);
        }
        finally
        {
            context.Features.Set(lifetime);
            context.Response.Body = body;
        }

        if (MarkedEnd(context, decision, "sse") is not { } failure)
        {
            if (deferred.AbortRequested)
            {
                lifetime.Abort();
            }

            return;
        }

        try
        {
            if (!forwarded.EndsOnEventBoundary)
            {
                // The backend broke off inside an event: end it, so the error event stands on a line of its own.
                await context.Response.Body.WriteAsync("\n\n"u8.ToArray(), CancellationToken.None);
            }

            await context.Response.Body.WriteAsync(ServerSentEvents.Error(failure), CancellationToken.None);
            await context.Response.Body.FlushAsync(CancellationToken.None);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            // The client is gone too; nothing left to mark.
            lifetime.Abort();
        }
    }

    /// <summary>
    /// The error that marks the end of a response broken after it started: the drain's, or the backend's, which is counted
    /// per surface. Null when the response was not broken, or its client left.
    /// </summary>
    private static ApiError? MarkedEnd(HttpContext context, RouteDecision? decision, string surface)
    {
        var error = context.GetForwarderErrorFeature()?.Error;
        if (!context.Response.HasStarted || error is not (ForwarderError.ResponseBodyDestination or ForwarderError.ResponseBodyCanceled))
        {
            return null;
        }

        if (DrainEndMiddleware.EndedByDrain(context))
        {
            return DrainEndMiddleware.DrainRanOut;
        }

        if (error == ForwarderError.ResponseBodyCanceled && context.RequestAborted.IsCancellationRequested)
        {
            return null; // the client left; not a backend failure
        }

        context.Items[CutItem] = true;
        GatewayMetrics.StreamFailures.WithLabels(decision?.Variant ?? "none", decision?.Pool ?? "none", surface).Inc();
        return BackendFailed;
    }

    /// <summary>
    /// Passes every byte straight on (a sentence event is hundreds of KiB: holding one back until it is whole would delay
    /// it at the client) and remembers whether what went out ends on an event boundary (a blank line).
    /// </summary>
    private sealed class EventBoundaryStream(Stream inner) : PassThroughStream(inner)
    {
        // The last two bytes passed on; an empty stream is on a boundary.
        private byte _secondLast = (byte)'\n';
        private byte _last = (byte)'\n';

        public bool EndsOnEventBoundary => _secondLast == '\n' && _last == '\n';

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Inner.WriteAsync(buffer, cancellationToken);
            var span = buffer.Span;
            if (span.Length >= 2)
            {
                (_secondLast, _last) = (span[^2], span[^1]);
            }
            else if (span.Length == 1)
            {
                (_secondLast, _last) = (_last, span[0]);
            }
        }
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
