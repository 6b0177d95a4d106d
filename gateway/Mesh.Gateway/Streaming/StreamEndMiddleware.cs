using Mesh.Contracts;
using Mesh.Contracts.Http;
using Mesh.Gateway.Routing;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.Gateway.Streaming;

/// <summary>
/// Makes a stream that breaks after its first byte end visibly, and counts it; a stream the backend ends with its own
/// SSE <c>error</c> event is counted too, by that event's status. YARP aborts the client connection when the backend's
/// body fails; for SSE that abort is held back so the client gets an <c>error</c> event and a
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
    private static readonly object FailureItem = new();
    private static readonly ApiError BackendFailed = ApiError.Unavailable("The backend failed while streaming; the audio is incomplete.", "backend_failed_mid_stream");

    /// <summary>
    /// The status of this request's response, which started as a 200, when its backend failed it after the start (one of
    /// <c>mesh_stream_failures_total</c>): 502 when it broke the response, its <c>error</c> event's when it ended an SSE
    /// stream with one. Null when the stream did not fail so.
    /// </summary>
    public static int? FailureStatus(HttpContext context) => context.Items.TryGetValue(FailureItem, out var status) ? (int?)status : null;

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
            else if (forwarded.LastEvent() is { Type: StreamEvent.Failure, Status: { } status })
            {
                // The backend's own marked end of a failure after its first byte, relayed as it was.
                Failed(context, decision, "sse", status);
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

        Failed(context, decision, surface, StatusCodes.Status502BadGateway);
        return BackendFailed;
    }

    private static void Failed(HttpContext context, RouteDecision? decision, string surface, int status)
    {
        context.Items[FailureItem] = status;
        GatewayMetrics.StreamFailures.WithLabels(decision?.Variant ?? "none", decision?.Pool ?? "none", surface).Inc();
    }

    /// <summary>
    /// Passes every byte straight on (a sentence event is hundreds of KiB: holding one back until it is whole would delay
    /// it at the client) and keeps the last few KiB that went out: whether they end on an event boundary (a blank line),
    /// and the last event when it is short enough to be kept whole, as an <c>error</c> event is.
    /// </summary>
    private sealed class EventBoundaryStream(Stream inner) : PassThroughStream(inner)
    {
        private const int TailBytes = 4096;

        // The stream starts after a boundary: an empty stream is on one, and its first event is whole in the tail.
        private readonly byte[] _tail = [(byte)'\n', (byte)'\n', .. new byte[TailBytes - 2]];
        private int _tailLength = 2;

        public bool EndsOnEventBoundary => Tail.EndsWith("\n\n"u8);

        private ReadOnlySpan<byte> Tail => _tail.AsSpan(0, _tailLength);

        /// <summary>The stream event that ended the stream, if it ended on a boundary with one kept whole.</summary>
        public StreamEvent? LastEvent()
        {
            if (!EndsOnEventBoundary)
            {
                return null;
            }

            var previousBoundary = Tail[..^2].LastIndexOf("\n\n"u8);
            return previousBoundary < 0 ? null : ServerSentEvents.ReadStreamEvent(Tail[(previousBoundary + 2)..]);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Inner.WriteAsync(buffer, cancellationToken);
            Keep(buffer.Span);
        }

        private void Keep(ReadOnlySpan<byte> written)
        {
            if (written.Length >= TailBytes)
            {
                written[^TailBytes..].CopyTo(_tail);
                _tailLength = TailBytes;
                return;
            }

            var kept = Math.Min(_tailLength, TailBytes - written.Length);
            _tail.AsSpan(_tailLength - kept, kept).CopyTo(_tail);
            written.CopyTo(_tail.AsSpan(kept));
            _tailLength = kept + written.Length;
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
