using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using Mesh.Contracts;
using Mesh.Contracts.Http;
using Mesh.Gateway.Admission;
using Mesh.Gateway.Auth;
using Mesh.Gateway.Health;
using Mesh.Gateway.Routing;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.Gateway.Streaming;

/// <summary>
/// Terminates WebSockets at the gateway and relays messages to the backend the balancer picked, instead of YARP's
/// opaque byte copy, so the gateway can keep its promises: a browser from a foreign origin is refused, a backend
/// that dies mid-stream ends the client's socket with close code 1011 (not a dropped TCP connection) and is counted,
/// one that breaks after the client's close leaves the request the client's to have dropped and the close answered,
/// one that dies under an idle connection closes it with 1001 so the client reconnects, and a client whose connection
/// ends without a close frame is dropped at the backend as it would be without the gateway, its own connection ending
/// in order (a FIN, not a reset) when it half-closed it.
/// A backend that refuses the handshake is reported like a refused HTTP request, so failover and passive health apply.
/// The connection takes an admission slot only while the backend has a request of it to answer
/// (<see cref="WebSocketAdmission"/>); a request shed for want of one gets an <c>error</c> event and is not forwarded.
/// A client that stops reading but stays connected is cut as a proxied HTTP response's is (<see cref="StalledClientMiddleware"/>):
/// while a send to it blocks, the relay reads nothing from the backend and would not see the backend end its side.
/// On shutdown a connection is closed as a draining backend closes its own: an idle one at once with 1001, a busy one
/// once its requests under way are answered, each request sent meanwhile getting a 503 <c>draining</c> <c>error</c>
/// event instead of being forwarded; a new connection is refused with 503 <c>draining</c> before a backend is asked.
/// One still busy when the gateway's drain time runs out is ended before the host aborts it: each request still
/// unanswered (waiting for a slot too) gets a 503 <c>draining</c> <c>error</c> event, then the 1001 close.
/// </summary>
public sealed partial class WebSocketRelayMiddleware(
    RequestDelegate next,
    AdmissionController admission,
    UnresponsiveBackends unresponsive,
    IOptionsMonitor<WebSocketRelayOptions> options,
    IOptions<GatewayStreamBufferOptions> buffers,
    DrainState drain,
    IHostApplicationLifetime lifetime,
    ILogger<WebSocketRelayMiddleware> logger)
{
    private const int BufferBytes = 16 * 1024;
    private static readonly TimeSpan CloseHandshakeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The error of a request sent, or a connection asked for, once the gateway's shutdown has begun: it is not forwarded.</summary>
    private static readonly ApiError ShuttingDown = ApiError.Draining("gateway");

    public async Task InvokeAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await next(context);
            return;
        }

        if (context.Request.Headers.Origin.FirstOrDefault() is { } origin && !IsAllowedOrigin(context, origin))
        {
            await ApiResults.WriteErrorAsync(context, new ApiError(
                StatusCodes.Status403Forbidden, $"WebSocket connections from origin '{origin}' are not allowed.", ErrorTypes.Permission, "Origin", "origin_not_allowed"));
            return;
        }

        if (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            // The relay would close the connection at once, and its client, told to go away, would reconnect here while the
            // readiness grace keeps the listener up: refused before a backend is asked, it is told when to try again.
            await ApiResults.WriteErrorAsync(context, ShuttingDown);
            return;
        }

        var proxy = context.GetReverseProxyFeature();
        if (proxy.AvailableDestinations.Count == 0)
        {
            context.Features.Set<IForwarderErrorFeature>(new RelayError(ForwarderError.NoAvailableDestinations, null));
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }

        var destination = proxy.AvailableDestinations[0];
        proxy.ProxiedDestination = destination;
        using var backend = new ClientWebSocket();
        backend.Options.CollectHttpResponseDetails = true;
        foreach (var header in new[] { MeshHeaders.RequestId, MeshHeaders.Priority })
        {
            if (context.Request.Headers[header].FirstOrDefault() is { } value)
            {
                backend.Options.SetRequestHeader(header, value);
            }
        }

        backend.Options.SetRequestHeader(WebSocketHandshakes.RelayHeader, "1");

        try
        {
            using var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            connectTimeout.CancelAfter(TimeSpan.FromSeconds(10));
            await backend.ConnectAsync(BackendUri(destination.Model.Config.Address, context.Request), connectTimeout.Token);
        }
        catch (Exception ex) when (ex is WebSocketException or HttpRequestException or OperationCanceledException && !context.RequestAborted.IsCancellationRequested)
        {
            context.Features.Set<IForwarderErrorFeature>(new RelayError(ForwarderError.Request, ex));
            context.Response.StatusCode = StatusCodes.Status502BadGateway;
            return;
        }

        foreach (var header in new[] { MeshHeaders.Backend, MeshHeaders.Variant })
        {
            if (backend.HttpResponseHeaders?.TryGetValue(header, out var values) == true)
            {
                context.Response.Headers[header] = values.ToArray();
            }
        }

        using var client = await context.WebSockets.AcceptWebSocketAsync();
        using var connection = new WebSocketAdmission(admission, RouteDecision.Of(context)!, ClientIdentity.Of(context));
        // A backend that stops answering keeps its socket open: aborting it ends the relay as a dead backend's would.
        using var exchange = unresponsive.Of(destination).Begin();
        await using var abortWhenEnded = exchange.Ended.Register(backend.Abort);
        await RelayAsync(client, backend, context, connection, exchange);
    }

    private async Task RelayAsync(WebSocket client, ClientWebSocket backend, HttpContext context, WebSocketAdmission connection, BackendExchange exchange)
    {
        // No cancellation tokens on the sockets: cancelling a pending receive aborts the socket, which would turn every
        // orderly close into a reset. Each side ends by a close frame or a failure instead; only a request's wait for an
        // admission slot is cancelled, when the connection ends.
        using var stall = new WriteStallGuard(buffers.Value.StallTimeout, context.Abort);
        using var clientSends = new ClientSends(client, stall);
        using var ending = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        var toBackend = ClientToBackendAsync(client, backend, connection, clientSends, context.RequestAborted, ending.Token);
        var toClient = BackendToClientAsync(backend, clientSends, connection, exchange);
        var pumps = Task.WhenAny(toBackend, toClient);
        var drained = await EndForShutdownAsync(pumps, backend, connection, clientSends);
        var first = await pumps;
        await ending.CancelAsync();
        var firstEnd = await first;
        if (first == toClient && firstEnd == PumpEnd.Broken && client.State == WebSocketState.CloseReceived)
        {
            // The client's close came in as the backend's side broke: its pump, passing the close on, tells which came
            // first. The abort ends that pass-on at once on a socket that has nothing more to give.
            backend.Abort();
            if (await toBackend == PumpEnd.ClosedFirst)
            {
                (first, firstEnd) = (toBackend, PumpEnd.ClosedFirst);
            }
        }

        if (stall.Stalled)
        {
            // Nothing sent would reach the client, whose connection the guard aborted: the backend's request ends with it.
            StalledClientMiddleware.CountStall(context, logger, buffers.Value.StallTimeoutSeconds);
            backend.Abort();
        }
        else if (first == toClient && firstEnd == PumpEnd.Broken && client.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            await CloseForLostBackendAsync(context, connection, clientSends);
        }
        else if (first == toBackend && firstEnd is PumpEnd.Broken or PumpEnd.ClientLeft)
        {
            // The backend sees the client's connection end as it would without the gateway: its requests are dropped.
            backend.Abort();
        }

        var other = first == toBackend ? toClient : toBackend;
        if (await Task.WhenAny(other, Task.Delay(CloseHandshakeTimeout)) != other)
        {
            client.Abort();
            backend.Abort();
        }

        await other;
        // The pump that ended first may have been the backend's, passing on its reply to the client's close; a stalled
        // client's connection, which the guard cut, ended first whatever the pumps saw.
        var backendEndedFirst = first == toClient && await toBackend is not (PumpEnd.ClosedFirst or PumpEnd.Refused) && !stall.Stalled;
        // Those the shutdown left unanswered (sent across its close) are the drain's, as a backend counts them.
        connection.CountUnanswered(drained ? StatusCodes.Status503ServiceUnavailable : UnansweredStatus(backendEndedFirst, firstEnd, backend.CloseStatus));
        if (await toBackend == PumpEnd.ClosedFirst && await toClient == PumpEnd.Broken)
        {
            // The backend broke instead of answering the client's close: the client, which left first and still waits
            // for that answer, gets the one a backend gives, not a failure.
            await clientSends.CloseQuietlyAsync(WebSocketCloseStatus.NormalClosure, null);
        }

        if (await toBackend is PumpEnd.ClientLeft or PumpEnd.Refused)
        {
            // The runtime aborted the client's WebSocket, at the end of its stream or after its close for a refused frame,
            // and disposing an aborted WebSocket aborts its HTTP connection, which Kestrel does with a reset: one that can
            // drop that close before the client has it. Kestrel, which sees the client's FIN (after its close reply, if it
            // sends one), closes the connection in order itself (a FIN) before it cancels RequestAborted: the disposal
            // waits for that.
            await Task.Delay(CloseHandshakeTimeout, context.RequestAborted).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>
    /// Ends the connection for the gateway's shutdown, unless the pumps end it first; whether it did. From the shutdown's
    /// start, requests are held unforwarded; once none is under way, those held get their 503 <c>draining</c>
    /// <c>error</c> events, the client the 1001 close a draining backend sends, and the backend the client's close. At the
    /// end of the drain, at the end of the backend message being forwarded, if any, every request still unanswered gets
    /// its error event and the client the same close, and the backend's side is dropped, as the client's leaving drops it.
    /// </summary>
    private async Task<bool> EndForShutdownAsync(Task pumps, ClientWebSocket backend, WebSocketAdmission connection, ClientSends clientSends)
    {
        var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var drainEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var onStopping = lifetime.ApplicationStopping.Register(stopping.SetResult);
        await using var onDrainEnded = drain.DrainEnded.Register(drainEnded.SetResult);
        if (await Task.WhenAny(pumps, stopping.Task) == pumps)
        {
            return false;
        }

        connection.BeginDrain();
        var ended = await Task.WhenAny(pumps, connection.Drained, drainEnded.Task);
        if (ended == pumps)
        {
            return false;
        }

        var ranOut = ended == drainEnded.Task;
        await clientSends.EndAsync(
            () => connection.AnswerUnanswered(ranOut ? DrainEndMiddleware.DrainRanOut : ShuttingDown)
                .Select(answer => JsonSerializer.SerializeToUtf8Bytes(answer, ContractsJsonContext.Wire.StreamEvent)),
            WebSocketCloseStatus.EndpointUnavailable,
            WebSocketHandshakes.ShuttingDown);
        if (ranOut)
        {
            backend.Abort();
        }
        else
        {
            // Nothing forwarded awaits an answer: the backend's side ends in order.
            await PassOnCloseAsync(backend, WebSocketCloseStatus.EndpointUnavailable, WebSocketHandshakes.ShuttingDown);
        }

        return true;
    }

    /// <summary>
    /// Ends the client's connection when its backend died: a request in flight, or waiting for a slot, failed, which the
    /// client is told plainly (1011) instead of by a dropped connection, and which is counted; an idle connection lost nothing and
    /// is closed as the backend's own shutdown closes it (1001, going away), so the client reconnects.
    /// </summary>
    private async Task CloseForLostBackendAsync(HttpContext context, WebSocketAdmission connection, ClientSends clientSends)
    {
        if (!connection.AwaitsBackend)
        {
            await clientSends.CloseQuietlyAsync(WebSocketCloseStatus.EndpointUnavailable, "backend went away");
            return;
        }

        var decision = RouteDecision.Of(context)!;
        LogBackendLost(logger, context.GetReverseProxyFeature().ProxiedDestination?.DestinationId);
        GatewayMetrics.StreamFailures.WithLabels(decision.Variant, decision.Pool, "websocket").Inc();
        await clientSends.CloseQuietlyAsync(WebSocketCloseStatus.InternalServerError, "backend failed");
    }

    /// <summary>
    /// The status of the requests the connection's end leaves unanswered, as the backend counts them. 413 once the backend
    /// has closed with 1009: it counts the oversized message so, and each request that crosses that close, whatever its
    /// client did after sending it (closed, left, or sent a tail the gateway's WebSocket refused as not UTF-8). Else the
    /// backend's end decides only when it came before the client's: 503 for those that cross its 1001 close (of its drain
    /// or idleness), 502 for those it failed; else the client left first (499).
    /// </summary>
    private static int UnansweredStatus(bool backendEndedFirst, PumpEnd backendEnd, WebSocketCloseStatus? closeStatus) => (backendEndedFirst, backendEnd, closeStatus) switch
    {
        (_, _, WebSocketCloseStatus.MessageTooBig) => StatusCodes.Status413PayloadTooLarge,
        (false, _, _) => MeshStatusCodes.ClientClosedRequest,
        (true, PumpEnd.Closed, WebSocketCloseStatus.EndpointUnavailable) => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status502BadGateway,
    };

    /// <summary>
    /// Copies the client's messages to the backend until a close (passed on) or a failure. Each request is admitted
    /// before any of it is forwarded; a shed one is read to its end, dropped, and answered with an <c>error</c> event,
    /// and one whose client left (or whose connection ended) while it waited is dropped.
    /// </summary>
    private static async Task<PumpEnd> ClientToBackendAsync(
        WebSocket client, WebSocket backend, WebSocketAdmission connection, ClientSends clientSends, CancellationToken clientAborted, CancellationToken ending)
    {
        var buffer = new byte[BufferBytes];
        var spare = new byte[BufferBytes];
        Task<WebSocketReceiveResult>? next = null;
        var startOfMessage = true;
        var verdict = WebSocketVerdict.Forward;
        try
        {
            while (true)
            {
                WebSocketReceiveResult received;
                try
                {
                    received = await (next ?? ReceiveAsync(client, buffer, startOfMessage, connection));
                }
                catch (WebSocketException ex) when (ex.WebSocketErrorCode == WebSocketError.ConnectionClosedPrematurely)
                {
                    // The client's connection ended without a close frame: its FIN (a half-close, or a process gone), or a reset.
                    return PumpEnd.ClientLeft;
                }

                next = null;
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    // Read before the close goes: the backend's reply to it, or its side breaking after it, must not make
                    // the backend seem the first to end.
                    var clientFirst = backend.State == WebSocketState.Open;
                    await PassOnCloseAsync(backend, PassedOn(received.CloseStatus), received.CloseStatusDescription);
                    return clientFirst ? PumpEnd.ClosedFirst : PumpEnd.Closed;
                }

                if (startOfMessage)
                {
                    next = ReceiveAsync(client, spare, received.EndOfMessage, connection);
                    verdict = await AdmitWhileReadingAsync(connection, next, clientAborted, ending);
                }

                startOfMessage = received.EndOfMessage;
                if (verdict.Forwards)
                {
                    await backend.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, CancellationToken.None);
                }
                else if (verdict.Answer is { } refusal && received.EndOfMessage)
                {
                    await clientSends.SendAsync(JsonSerializer.SerializeToUtf8Bytes(StreamEvent.Failed(refusal), ContractsJsonContext.Wire.StreamEvent));
                    connection.OnAnswerSent();
                }

                if (next is not null)
                {
                    // The frame read during admission lies in the spare buffer: it is the next one handled.
                    (buffer, spare) = (spare, buffer);
                }
            }
        }
        catch (WebSocketException ex) when (ex.WebSocketErrorCode == WebSocketError.Faulted)
        {
            // Only a receive faults so: the gateway's WebSocket refused a frame of the client's (a text message that is
            // not UTF-8, closed with 1007; a malformed frame, 1002) and closed the client's connection itself. A close of
            // its own status, not a dropped connection, has the backend count the refused message as one it refused itself,
            // and the requests waiting behind it as dropped by the client.
            if (startOfMessage || verdict.Forwards)
            {
                // A shed request's refused tail was answered with its error event, and counted so, already.
                connection.NoteRefused(continuedForwarded: !startOfMessage);
            }

            await PassOnCloseAsync(backend, (WebSocketCloseStatus)WebSocketHandshakes.ClientFrameRefusedStatus, "client frame refused");
            return PumpEnd.Refused;
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            return PumpEnd.Broken;
        }
    }

    /// <summary>
    /// The status of the client's close as the backend gets it: unchanged, but for the private status of the gateway's
    /// own refusal, which a client may send too and which then reaches the backend as a normal closure, not a refusal.
    /// </summary>
    private static WebSocketCloseStatus PassedOn(WebSocketCloseStatus? status) =>
        status is null or (WebSocketCloseStatus)WebSocketHandshakes.ClientFrameRefusedStatus ? WebSocketCloseStatus.NormalClosure : status.Value;

    /// <summary>Closes the backend's side for the client's end, if it is still open; a backend already gone is left as it is.</summary>
    private static async Task PassOnCloseAsync(WebSocket backend, WebSocketCloseStatus status, string? reason)
    {
        try
        {
            if (backend.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await backend.CloseOutputAsync(status, reason, CancellationToken.None);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The backend is gone too: its pump ends with that.
        }
    }

    /// <summary>
    /// Reads the client's next frame; the first of a request registers it with the connection as soon as it is read, so
    /// that one read ahead while the one before it waits for a slot is answered by the drain even if its turn never comes.
    /// </summary>
    private static async Task<WebSocketReceiveResult> ReceiveAsync(WebSocket client, byte[] buffer, bool startsMessage, WebSocketAdmission connection)
    {
        var received = await client.ReceiveAsync(buffer, CancellationToken.None);
        if (startsMessage && received.MessageType != WebSocketMessageType.Close)
        {
            connection.OnRequestReceived();
        }

        return received;
    }

    /// <summary>
    /// Admits a request while the client's next frame is read (<paramref name="next"/>): a close or a failure there
    /// means the client left, as a dropped HTTP connection does, so the request leaves the queue at once (counted as
    /// <c>client_gone</c>) instead of taking a slot, reaching a backend and holding the close's answer until then.
    /// </summary>
    private static async Task<WebSocketVerdict> AdmitWhileReadingAsync(
        WebSocketAdmission connection, Task<WebSocketReceiveResult> next, CancellationToken clientAborted, CancellationToken ending)
    {
        using var clientGone = CancellationTokenSource.CreateLinkedTokenSource(clientAborted);
        var admitting = connection.AdmitRequestAsync(clientGone.Token, ending);
        if (await Task.WhenAny(admitting, next) == next && !(next.IsCompletedSuccessfully && next.Result.MessageType != WebSocketMessageType.Close))
        {
            await clientGone.CancelAsync();
        }

        try
        {
            return await admitting;
        }
        catch (OperationCanceledException)
        {
            // Nobody to answer, or the connection is ending: the request is dropped and the pump reads on to the close.
            return WebSocketVerdict.Hold;
        }
    }

    /// <summary>
    /// Copies the backend's messages to the client until a close (passed on) or a failure, showing each text event to
    /// the connection's admission before the client gets it.
    /// </summary>
    private static async Task<PumpEnd> BackendToClientAsync(WebSocket backend, ClientSends clientSends, WebSocketAdmission connection, BackendExchange exchange)
    {
        var buffer = new byte[BufferBytes];
        var text = new ArrayBufferWriter<byte>();
        try
        {
            while (true)
            {
                var received = await backend.ReceiveAsync(buffer, CancellationToken.None);
                exchange.Progressed();
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    await clientSends.ForwardCloseAsync(received.CloseStatus ?? WebSocketCloseStatus.NormalClosure, received.CloseStatusDescription);
                    return PumpEnd.Closed;
                }

                Action? count = null;
                if (received.MessageType == WebSocketMessageType.Binary)
                {
                    connection.OnBackendAudio();
                }
                else if (received.MessageType == WebSocketMessageType.Text)
                {
                    // Events are small JSON messages: a copy is kept to read each whole. A terminal one frees the slot
                    // as its last frame goes, so the client's next request finds it free, and under the send turn, so
                    // an error event of the gateway's for a later request cannot pass it.
                    text.Write(buffer.AsSpan(0, received.Count));
                    if (received.EndOfMessage)
                    {
                        count = () =>
                        {
                            connection.OnBackendEvent(text.WrittenSpan);
                            text.ResetWrittenCount();
                        };
                    }
                }

                await clientSends.ForwardAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, count);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            // An aborted socket's pending receive ends in an OperationCanceledException.
            return PumpEnd.Broken;
        }
        finally
        {
            clientSends.EndForwarding();
        }
    }

    private bool IsAllowedOrigin(HttpContext context, string origin) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri) &&
        (string.Equals(uri.Authority, context.Request.Host.Value, StringComparison.OrdinalIgnoreCase) ||
         options.CurrentValue.AllowedOrigins.Contains(origin, StringComparer.OrdinalIgnoreCase));

    private static Uri BackendUri(string address, HttpRequest request)
    {
        var builder = new UriBuilder(address) { Path = request.Path, Query = request.QueryString.Value ?? "" };
        builder.Scheme = builder.Scheme == Uri.UriSchemeHttps ? "wss" : "ws";
        return builder.Uri;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Backend {Backend} dropped a WebSocket mid-stream; the client got close code 1011")]
    private static partial void LogBackendLost(ILogger logger, string? backend);

    private enum PumpEnd
    {
        Closed,

        /// <summary>The client's close frame came while the backend's side was still open, and was passed on (unless that side broke as it went): the client left first.</summary>
        ClosedFirst,

        Broken,

        /// <summary>The client's connection ended without a close frame.</summary>
        ClientLeft,

        /// <summary>The gateway's WebSocket refused a frame of the client's, closed the client's side for it and aborted the socket.</summary>
        Refused,
    }

    /// <summary>
    /// The client socket's sends, one message at a time: the backend's messages (forwarded frame by frame), the gateway's
    /// own error events and its closes come from different tasks, and a WebSocket allows one send at a time and no
    /// frame of another message inside a fragmented one. Each send, closes included, goes through the connection's stall
    /// guard, which one send at a time uses; a stalled send aborts the client's connection.
    /// </summary>
    private sealed class ClientSends(WebSocket socket, WriteStallGuard stall) : IDisposable
    {
        private readonly SemaphoreSlim _turn = new(1, 1);

        // Set while the forwarding pump, the only caller of the Forward methods, holds the turn inside a message.
        private bool _forwarding;

        // Set, under the turn, once the gateway has sent its last messages: the backend's are forwarded no more.
        private bool _ended;

        /// <summary>
        /// One frame of a backend message: the turn is taken at its first frame and given back after its last.
        /// <paramref name="beforeSending"/> runs holding the turn, just before the frame goes.
        /// </summary>
        public async Task ForwardAsync(ReadOnlyMemory<byte> frame, WebSocketMessageType type, bool endOfMessage, Action? beforeSending = null)
        {
            if (!_forwarding)
            {
                await _turn.WaitAsync();
                if (_ended)
                {
                    _turn.Release();
                    throw new OperationCanceledException("The gateway ended the connection.");
                }

                _forwarding = true;
            }

            beforeSending?.Invoke();
            await SendGuardedAsync(frame, type, endOfMessage);
            if (endOfMessage)
            {
                EndForwarding();
            }
        }

        /// <summary>The backend's close, passed on.</summary>
        public Task ForwardCloseAsync(WebSocketCloseStatus status, string? reason)
        {
            EndForwarding();
            return CloseOutputAsync(status, reason, CancellationToken.None);
        }

        /// <summary>Gives the turn back if a forwarded message holds it; the forwarding pump calls this when it ends.</summary>
        public void EndForwarding()
        {
            if (_forwarding)
            {
                _forwarding = false;
                _turn.Release();
            }
        }

        /// <summary>A whole text message of the gateway's own.</summary>
        public async Task SendAsync(ReadOnlyMemory<byte> message)
        {
            await _turn.WaitAsync();
            try
            {
                await SendGuardedAsync(message, WebSocketMessageType.Text, true);
            }
            finally
            {
                _turn.Release();
            }
        }

        /// <summary>
        /// The gateway's last text messages, then its close, between two of the backend's messages: the backend's
        /// messages are forwarded no more, and the forwarding pump ends at its next one. <paramref name="lastMessages"/>
        /// is read holding the turn, after the last message forwarded. A socket already gone is left as it is.
        /// </summary>
        public async Task EndAsync(Func<IEnumerable<byte[]>> lastMessages, WebSocketCloseStatus status, string reason)
        {
            await _turn.WaitAsync();
            try
            {
                _ended = true;
                foreach (var message in lastMessages())
                {
                    await SendGuardedAsync(message, WebSocketMessageType.Text, true);
                }

                await CloseOutputHoldingTurnAsync(status, reason, CancellationToken.None);
            }
            catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
            {
                // Already gone.
            }
            finally
            {
                _turn.Release();
            }
        }

        /// <summary>Closes the client's side within two seconds, if it is still open; a socket already gone is left as it is.</summary>
        public async Task CloseQuietlyAsync(WebSocketCloseStatus status, string? reason)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await CloseOutputAsync(status, reason, timeout.Token);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
                // Already gone.
            }
        }

        public void Dispose() => _turn.Dispose();

        private ValueTask SendGuardedAsync(ReadOnlyMemory<byte> bytes, WebSocketMessageType type, bool endOfMessage) =>
            stall.SendAsync(socket, bytes, type, endOfMessage, CancellationToken.None);

        private async Task CloseOutputAsync(WebSocketCloseStatus status, string? reason, CancellationToken cancellationToken)
        {
            await _turn.WaitAsync(cancellationToken);
            try
            {
                await CloseOutputHoldingTurnAsync(status, reason, cancellationToken);
            }
            finally
            {
                _turn.Release();
            }
        }

        private async Task CloseOutputHoldingTurnAsync(WebSocketCloseStatus status, string? reason, CancellationToken cancellationToken)
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await stall.CloseOutputAsync(socket, status, reason, cancellationToken);
            }
        }
    }

    private sealed record RelayError(ForwarderError Error, Exception? Exception) : IForwarderErrorFeature;
}

/// <summary>WebSocket settings (section <c>Mesh:WebSockets</c>): browsers from these origins may connect besides the gateway's own.</summary>
public sealed class WebSocketRelayOptions
{
    public const string Section = "Mesh:WebSockets";

    public List<string> AllowedOrigins { get; set; } = [];
}
