using System.Buffers;
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
/// <para>
/// An SSE body reaches the client in whole events only: a sentence event carries hundreds of KiB of audio, and a
/// backend that dies part way through one would otherwise leave half an event on the wire, which the error event would
/// then extend into one unreadable line.
/// </para>
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
        var body = context.Response.Body;
        var wholeEvents = new WholeEventsStream(body);
        context.Response.Body = wholeEvents;
        try
        {
            await next(context);
        }
        finally
        {
            context.Features.Set(lifetime);
            context.Response.Body = body;
        }

        if (!CountIfBroken(context, decision, "sse"))
        {
            if (deferred.AbortRequested)
            {
                lifetime.Abort();
                return;
            }

            try
            {
                // A body that did not end with a blank line (an error envelope, say) is passed on whole.
                await wholeEvents.WriteHeldBackAsync(context.RequestAborted);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                // The client left; there is nobody to pass it to.
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

    /// <summary>
    /// Passes bytes on up to the end of the last whole event (a blank line) and holds back the rest until the event is
    /// complete; flushes pass through, so the response still starts with the backend's first bytes.
    /// </summary>
    private sealed class WholeEventsStream(Stream inner) : Stream
    {
        private readonly ArrayBufferWriter<byte> _heldBack = new();

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var end = EndOfLastEvent(buffer.Span);
            if (end == 0)
            {
                _heldBack.Write(buffer.Span);
                return;
            }

            await WriteHeldBackAsync(cancellationToken);
            await inner.WriteAsync(buffer[..end], cancellationToken);
            _heldBack.Write(buffer.Span[end..]);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override void Flush() => inner.Flush();

        public async ValueTask WriteHeldBackAsync(CancellationToken cancellationToken)
        {
            if (_heldBack.WrittenCount > 0)
            {
                await inner.WriteAsync(_heldBack.WrittenMemory, cancellationToken);
                _heldBack.ResetWrittenCount();
            }
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        /// <summary>How many bytes of <paramref name="buffer"/> complete events, counting a blank line split across writes; 0 for none.</summary>
        private int EndOfLastEvent(ReadOnlySpan<byte> buffer)
        {
            var last = buffer.LastIndexOf("\n\n"u8);
            if (last >= 0)
            {
                return last + 2;
            }

            return buffer.Length > 0 && buffer[0] == (byte)'\n' && _heldBack.WrittenSpan is [.., (byte)'\n'] ? 1 : 0;
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
