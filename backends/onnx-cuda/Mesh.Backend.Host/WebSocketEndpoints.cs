using System.Buffers;
using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text.Json;
using System.Threading.Channels;
using Mesh.Backend.Pipeline;
using Mesh.Backend.Pipeline.Audio;
using Mesh.Contracts;
using Mesh.Contracts.Http;
using Microsoft.Extensions.Options;
using Prometheus;

namespace Mesh.Backend.Host;

/// <summary>
/// <c>/ws</c> and <c>/v1/audio/speech/ws</c>: JSON requests in, one after another; per request a <c>start</c> event,
/// per sentence a <c>sentence</c> event followed by binary PCM frames, then <c>done</c>. A bad message gets an
/// <c>error</c> event and the connection stays usable, as does a request sent while <see cref="MaxQueuedMessages"/>
/// already wait (429 <c>queue_full</c>, in its turn); an oversized message closes it (1009), and so does a text
/// message that is not UTF-8 (1007, sent by the runtime); a failure inside a stream is an <c>error</c> event too, and a
/// broken connection is closed with 1011. A connection on which no request runs or waits for
/// <see cref="WebSocketSessionOptions.IdleTimeout"/> is closed with 1001, and so is every connection on shutdown, after
/// the request under way and a 503 <c>draining</c> <c>error</c> event for each one waiting. A request whose client takes
/// none of its stream, or of its <c>error</c> event, for the stall timeout is ended with the connection (aborted: the
/// client reads nothing), and so is a connection whose client takes none of the refusals of its messages.
/// </summary>
public static partial class WebSocketEndpoints
{
    /// <summary>Largest request message accepted (the same as an HTTP body).</summary>
    public const int MaxMessageBytes = SpeechRequestParser.MaxBodyBytes;

    /// <summary>Requests read ahead while one runs; one sent beyond them is refused in its turn with 429 <c>queue_full</c>.</summary>
    public const int MaxQueuedMessages = 4;

    /// <summary>
    /// Refusals waiting for their turn beside the requests read ahead. Each costs a few bytes, not a message, but a client
    /// that sends past them too is read no further until they have gone out, as TCP makes its sends wait.
    /// </summary>
    private const int MaxQueuedRefusals = 64;

    // How long a connection closed for shutdown waits for the client's close reply, and one the runtime closed for a
    // refused frame waits for the client to end it.
    private static readonly TimeSpan CloseReplyTimeout = TimeSpan.FromSeconds(5);

    private static readonly ApiError TooManyWaiting = new(
        StatusCodes.Status429TooManyRequests,
        $"{MaxQueuedMessages} requests already waited on this connection when this one came; send the next after a done or error event.",
        ErrorTypes.RateLimit,
        null,
        "queue_full");

    /// <summary>A message over <see cref="MaxMessageBytes"/>: refused for its size, closing the connection with 1009.</summary>
    private static readonly ApiError Oversized = ApiError.TooLarge($"WebSocket messages are limited to {MaxMessageBytes} bytes.");

    public static IEndpointRouteBuilder MapWebSocketEndpoints(this IEndpointRouteBuilder app)
    {
        // Exported at 0 from the start, so every backend has the series, not only those that have closed a connection.
        IdleCloses(app.ServiceProvider.GetRequiredService<IOptions<BackendOptions>>().Value).Publish();
        // A handshake is a GET (RFC 6455 §4.1): another method is 405 with Allow: GET, not a request to upgrade.
        foreach (var path in WebSocketHandshakes.Paths)
        {
            app.MapGet(path, AcceptAsync);
        }

        return app;
    }

    private static async Task<IResult> AcceptAsync(
        HttpContext context,
        SpeechServices services,
        IOptions<WebSocketSessionOptions> sessions,
        IOptions<BackendOptions> backend,
        ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger(typeof(WebSocketEndpoints));
        if (!context.WebSockets.IsWebSocketRequest)
        {
            return WebSocketHandshakes.Refusal(context.Request);
        }

        // The header is the connection's class, so a bad one is refused before the upgrade, as the gateway refuses it,
        // rather than failing every request sent on the connection.
        if (PriorityClasses.HeaderError(context.Request.Headers[MeshHeaders.Priority].FirstOrDefault()) is { } priorityError)
        {
            return ApiResults.Error(priorityError);
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        try
        {
            await ServeAsync(socket, context, services, new IdleLimit(sessions.Value.IdleTimeout, IdleCloses(backend.Value)), logger);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
            // The client went away; its work was cancelled with the request token.
        }
        catch (Exception ex)
        {
            LogConnectionFailed(logger, ex);
            if (socket.State == WebSocketState.Open)
            {
                await CloseForFailureAsync(socket);
            }
        }

        return Results.Empty;
    }

    /// <summary>
    /// Tells the client the connection failed, without waiting for its close reply: the connection ends here, and a
    /// client that reads nothing must not hold it longer than <see cref="CloseReplyTimeout"/>.
    /// </summary>
    private static async Task CloseForFailureAsync(WebSocket socket)
    {
        using var sending = new CancellationTokenSource(CloseReplyTimeout);
        try
        {
            await socket.CloseOutputAsync(WebSocketCloseStatus.InternalServerError, "internal error", sending.Token);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
            // Gone or not reading: the connection is dropped as the handler returns.
        }
    }

    private static async Task ServeAsync(WebSocket socket, HttpContext context, SpeechServices services, IdleLimit idle, ILogger logger)
    {
        var connectionAborted = context.RequestAborted;
        // On shutdown an idle connection is told to go away at once, a busy one after its current request and the refusal
        // of those waiting; the loop sends that close itself, so it never races a send of the request under way.
        var stopping = context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        // Messages are read all the time, also while a request runs, so the client's close frame (or a failed receive)
        // cancels the request under way even with other requests queued behind it, and pings are answered meanwhile.
        // Reading on must not hold every request a client sends: past the read-ahead one waits only as a refusal.
        var inbox = Channel.CreateBounded<ReceivedMessage>(
            new BoundedChannelOptions(MaxQueuedMessages + MaxQueuedRefusals) { SingleReader = true, SingleWriter = true });
        // A place for the request under way and one for each waiting; a message gives its place back once answered, so
        // a burst of five sent at once fits however soon the first of them is taken out.
        using var readAhead = new SemaphoreSlim(1 + MaxQueuedMessages);
        using var clientLeft = CancellationTokenSource.CreateLinkedTokenSource(connectionAborted);
        // Refusals are bounded as a request's stream is: a client that sends and never reads must not hold the
        // connection with the answers it leaves unread.
        using var refusals = new WriteStallGuard(services.StallTimeout, context.Abort);
        var reading = ReceiveAllAsync(
            socket,
            inbox.Writer,
            readAhead,
            clientLeft,
            context.Request.Headers.ContainsKey(WebSocketHandshakes.RelayHeader),
            () => services.Count(StatusCodes.Status400BadRequest, ConnectionPriority(context)),
            connectionAborted);
        // Set once the server stops: every message read from then on is answered as draining until none waits, then the close goes.
        var draining = false;
        // What a request that crosses our close counts as, as the gateway counts those a backend's close leaves
        // unanswered: 503 after the 1001 of a drain or idleness, 413 after the 1009 of an oversized message.
        var crossingOurClose = SpeechPreparation.Draining;
        try
        {
            while (true)
            {
                if (!draining)
                {
                    var waited = await WaitForMessageAsync(inbox.Reader, idle.Timeout, stopping, connectionAborted);
                    if (waited == Wait.Idle)
                    {
                        await CloseIdleAsync(socket, idle);
                        break;
                    }

                    // The requests waiting then, and those read while they are refused, were accepted: each gets the
                    // draining error an HTTP request gets now, in its turn, before the close. Only one sent after the
                    // close crosses it: it is dropped with the connection, and counted as draining all the same.
                    draining = waited == Wait.Stopping;
                }

                if (draining && inbox.Reader.Count == 0)
                {
                    await GoAwayAsync(socket, WebSocketHandshakes.ShuttingDown);
                    break;
                }

                if (!inbox.Reader.TryRead(out var message))
                {
                    // The receive ended without a close frame: the connection broke.
                    break;
                }

                if (message.Kind == MessageKind.TooBig)
                {
                    // Before the client's close that may follow it: the message came first, and is refused whatever came after.
                    crossingOurClose = Oversized;
                    services.Count(Oversized, ConnectionPriority(context));
                    if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                    {
                        // Only the close goes out here: the client's reply, unless it closed already, is awaited within a
                        // bound, as that of any close of ours.
                        await refusals.CloseOutputAsync(socket, WebSocketCloseStatus.MessageTooBig, $"messages are limited to {MaxMessageBytes} bytes", connectionAborted);
                    }

                    break;
                }

                if (message.Kind == MessageKind.Close || socket.State != WebSocketState.Open)
                {
                    // The client closed, or the connection broke; requests queued before that are dropped with it, and
                    // counted before the close reply, so that they are in the metrics once the client has its close.
                    CountClientGone(message, inbox.Reader, context, services);
                    if (socket.State == WebSocketState.CloseReceived)
                    {
                        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, connectionAborted);
                    }

                    break;
                }

                if (message.Kind == MessageKind.Refused)
                {
                    await RefuseAsync(socket, draining ? SpeechPreparation.Draining : TooManyWaiting, context, services, refusals, connectionAborted);
                    continue;
                }

                if (draining)
                {
                    await RefuseAsync(socket, SpeechPreparation.Draining, context, services, refusals, connectionAborted);
                }
                else if (message.Kind == MessageKind.Binary)
                {
                    await RefuseAsync(socket, ApiError.InvalidRequest("Send requests as JSON text messages, not binary.", null, "invalid_message"), context, services, refusals, connectionAborted);
                }
                else
                {
                    await SpeakUntilClosedAsync(socket, message.Body, context, services, logger, clientLeft.Token, connectionAborted);
                }

                readAhead.Release();
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
            // The connection broke under the request under way: those waiting behind it are dropped with it.
            CountClientGone(null, inbox.Reader, context, services);
            throw;
        }
        finally
        {
            await EndReceiveAsync(socket, reading, inbox.Reader, crossingOurClose, context, services, connectionAborted);
        }
    }

    /// <summary>
    /// Waits for the receive to end before the semaphore and token source it uses are disposed. After a close of ours
    /// (shutdown, idleness, an oversized message) it ends with the client's close reply, else the socket is dropped after
    /// <see cref="CloseReplyTimeout"/>; what it takes in meanwhile is taken out unanswered, so it never waits for room in
    /// the inbox instead of reading that reply. A request among it crossed our close: no answer can follow a close
    /// frame, so it is counted as <paramref name="crossingOurClose"/>.
    /// </summary>
    private static async Task EndReceiveAsync(
        WebSocket socket,
        Task reading,
        ChannelReader<ReceivedMessage> inbox,
        ApiError crossingOurClose,
        HttpContext context,
        SpeechServices services,
        CancellationToken connectionAborted)
    {
        using var closeReply = CancellationTokenSource.CreateLinkedTokenSource(connectionAborted);
        closeReply.CancelAfter(CloseReplyTimeout);
        try
        {
            await foreach (var crossed in inbox.ReadAllAsync(closeReply.Token))
            {
                if (crossed.AwaitsAnswer)
                {
                    services.Count(crossingOurClose, ConnectionPriority(context));
                }
            }
        }
        catch (OperationCanceledException)
        {
            socket.Abort();
        }

        await reading;
    }

    /// <summary>
    /// Receives the client's messages into <paramref name="inbox"/> until a close or a failure (after an oversized
    /// message too, so that the client's reply to its 1009 is read, and any request that crosses that close counted);
    /// a close or a failure also cancels <paramref name="clientLeft"/>, which stops the request under way. A request
    /// that finds no place in <paramref name="readAhead"/> goes in without its body, as a refusal.
    /// </summary>
    /// <param name="relayed">
    /// Whether the gateway's relay opened the connection (<see cref="WebSocketHandshakes.RelayHeader"/>): only its close
    /// with <see cref="WebSocketHandshakes.ClientFrameRefusedStatus"/> is a refusal; a direct client's is its own close.
    /// </param>
    /// <param name="countUnreadable">
    /// Counts a message the WebSocket refused before any of it reached us: a text message that is not UTF-8, which the
    /// runtime closes with 1007 (a malformed frame: 1002), or, through the gateway, one the gateway's WebSocket refused
    /// so, which the gateway passes on as a close with <see cref="WebSocketHandshakes.ClientFrameRefusedStatus"/>. A
    /// client's own close with 1002 or 1007 is not counted so. Counted at once, as the runtime has sent its close already.
    /// </param>
    private static async Task ReceiveAllAsync(
        WebSocket socket,
        ChannelWriter<ReceivedMessage> inbox,
        SemaphoreSlim readAhead,
        CancellationTokenSource clientLeft,
        bool relayed,
        Action countUnreadable,
        CancellationToken connectionAborted)
    {
        var reader = new MessageReader(socket);
        var oversizedRefused = false;
        try
        {
            while (true)
            {
                var message = await reader.ReceiveAsync(connectionAborted);
                oversizedRefused |= message.Kind == MessageKind.TooBig;
                if (message.Kind == MessageKind.Close)
                {
                    // After an oversized message, the gateway's refusal is of that message's tail, as the runtime's is below.
                    if (relayed && (int?)socket.CloseStatus == WebSocketHandshakes.ClientFrameRefusedStatus && !oversizedRefused)
                    {
                        countUnreadable();
                    }

                    await clientLeft.CancelAsync();
                }
                else if (message.Kind is MessageKind.Text or MessageKind.Binary && !readAhead.Wait(0, CancellationToken.None))
                {
                    message = ReceivedMessage.Refused;
                }

                await inbox.WriteAsync(message, connectionAborted);
                if (message.Kind == MessageKind.Close)
                {
                    return;
                }
            }
        }
        catch (WebSocketException ex) when (ex.WebSocketErrorCode == WebSocketError.Faulted)
        {
            // The runtime, not our parsing, checks that a text message is UTF-8: it refused one (or a malformed frame),
            // closed the connection itself and aborted the socket; the request under way is cancelled as on a close. After an
            // oversized message it is that message's tail, refused (and counted) already, or one that crossed its close.
            if (!oversizedRefused)
            {
                countUnreadable();
            }

            await clientLeft.CancelAsync();
            inbox.Complete();
            // Disposing the aborted socket resets the connection, which can drop the close before the client has it. The
            // client's FIN, after its close reply or without one, ends the connection in order instead: the receive, which
            // the handler waits for, waits for that (RequestAborted), within the bound of a close reply.
            await Task.Delay(CloseReplyTimeout, connectionAborted).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The connection broke or was aborted; the request under way is cancelled like a dropped HTTP request's.
            await clientLeft.CancelAsync();
        }
        finally
        {
            inbox.TryComplete();
        }
    }

    /// <summary>Runs one request; the client's close frame (or a failed receive) cancels it, as a dropped HTTP connection does.</summary>
    private static async Task SpeakUntilClosedAsync(
        WebSocket socket,
        ReadOnlyMemory<byte> message,
        HttpContext context,
        SpeechServices services,
        ILogger logger,
        CancellationToken clientLeft,
        CancellationToken connectionAborted)
    {
        try
        {
            await SpeakAsync(socket, message, context, services, logger, clientLeft, connectionAborted);
        }
        catch (OperationCanceledException) when (clientLeft.IsCancellationRequested && !connectionAborted.IsCancellationRequested)
        {
            // Cancelled by the client's close frame; the loop answers it.
        }
    }

    /// <summary>
    /// Waits until a message is in the inbox or the receive has ended, unless the server is stopping (requests queued
    /// then are refused as draining before the close) or neither happens within <paramref name="idleTimeout"/>. The loop waits
    /// here only between requests, so only that time is idle: a long stream, or requests waiting behind it, never are.
    /// Pings do not end the wait (the socket answers them itself): they keep NATs and proxies from dropping a
    /// connection, not an unused session open.
    /// </summary>
    private static async Task<Wait> WaitForMessageAsync(
        ChannelReader<ReceivedMessage> inbox, TimeSpan idleTimeout, CancellationToken stopping, CancellationToken connectionAborted)
    {
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(connectionAborted, stopping);
        idle.CancelAfter(idleTimeout);
        try
        {
            if (!stopping.IsCancellationRequested)
            {
                await inbox.WaitToReadAsync(idle.Token);
                return Wait.Message;
            }
        }
        catch (OperationCanceledException) when (!connectionAborted.IsCancellationRequested)
        {
            // The stop or the idle timeout ended the wait.
        }

        return stopping.IsCancellationRequested ? Wait.Stopping : Wait.Idle;
    }

    /// <summary>
    /// Closes a connection left idle with 1001 (going away), the code of a shutdown: the server ends the session, not
    /// because the client broke a rule (1008 would say it did), and a client may reconnect when it has something to say.
    /// </summary>
    private static async Task CloseIdleAsync(WebSocket socket, IdleLimit idle)
    {
        // A socket already closing or aborted gets no close of ours, and is not counted.
        if (socket.State == WebSocketState.Open)
        {
            idle.Closes.Inc();
            await GoAwayAsync(socket, string.Create(CultureInfo.InvariantCulture, $"idle for {idle.Timeout.TotalSeconds:0.###} s"));
        }
    }

    /// <summary>Closes with 1001 (going away), quietly if a close has already begun.</summary>
    private static async Task GoAwayAsync(WebSocket socket, string reason)
    {
        try
        {
            await socket.CloseOutputAsync(WebSocketCloseStatus.EndpointUnavailable, reason, CancellationToken.None);
        }
        catch (Exception ex) when (ex is WebSocketException or InvalidOperationException or ObjectDisposedException)
        {
            // Already closing or gone.
        }
    }

    /// <remarks>
    /// Sends take <paramref name="connectionAborted"/>, not the request's token: cancelling a send under way aborts the
    /// socket, and the client's close frame, which cancels the request, must still get its close reply.
    /// </remarks>
    private static async Task SpeakAsync(
        WebSocket socket,
        ReadOnlyMemory<byte> message,
        HttpContext context,
        SpeechServices services,
        ILogger logger,
        CancellationToken cancellationToken,
        CancellationToken connectionAborted)
    {
        var start = Stopwatch.GetTimestamp();
        // Every send of the request's, its error too, is bounded: a client that reads nothing cannot hold the connection.
        using var stall = new WriteStallGuard(services.StallTimeout, context.Abort);
        var parsed = SpeechRequestParser.Parse(message.Span);
        // The upgrade's X-Priority is the connection's class (through the gateway, always set); a message may still
        // lower its own to batch, which every key may, as on HTTP.
        var headerPriority = parsed.Request?.Priority == PriorityClasses.Batch
            ? PriorityClasses.Batch
            : context.Request.Headers[MeshHeaders.Priority].FirstOrDefault();
        // A client that leaves while the request is prepared is counted there; the loop counts only those still waiting.
        var preparation = await services.PrepareAsync(parsed, SurfaceDefaults.Pcm, headerPriority, start, cancellationToken);
        if (preparation.Error is { } error)
        {
            services.Count(error, SpeechPreparation.PriorityOf(parsed.Request, SurfaceDefaults.Pcm, headerPriority));
            await SendErrorAsync(socket, error, stall, connectionAborted);
            return;
        }

        using var speech = preparation.Speech!;
        var job = speech.Job;
        var requestId = RequestIds.New();
        // The upgrade's scope names the connection; the lines of this request carry the id its events give the client.
        using var requestScope = logger.BeginRequestScope(requestId);
        var sentences = 0;
        // Counted as it ends, as the gateway counts it: no status went out with its start, as one does with an HTTP
        // response's first byte, so a request that then loses its client is no 200. Its first outcome stands:
        // a done counted as it goes (so a client that has it finds it in the metrics) stays 200 if that send fails.
        using var run = new SynthesisRun(
            services, start, job.OutputSampleRate, services.Labels(job.Model.Id, job.Priority), requestId, stall, logger, cancellationToken);
        await run.RunAsync(
            async synthesis =>
            {
                await SendEventAsync(socket, new StreamEvent { Type = StreamEvent.Start, RequestId = requestId, SampleRate = job.OutputSampleRate }, stall, connectionAborted);
                await foreach (var pipelineEvent in services.Pipeline.RunAsync(job, synthesis))
                {
                    switch (pipelineEvent)
                    {
                        case SentenceStarted sentence:
                            sentences++;
                            await SendEventAsync(socket, new StreamEvent { Type = StreamEvent.Sentence, RequestId = requestId, Index = sentence.SentenceIndex, Text = sentence.Text }, stall, connectionAborted);
                            break;
                        case AudioProduced audio:
                            run.OnProduced(audio.Samples.Length);
                            run.Clock.OnWrite();
                            await stall.SendAsync(socket, PcmEncoder.ToBytes(audio.Samples), WebSocketMessageType.Binary, true, connectionAborted);
                            break;
                    }
                }

                run.Complete();
                await SendEventAsync(
                    socket,
                    new StreamEvent { Type = StreamEvent.Done, RequestId = requestId, Sentences = sentences, AudioSeconds = run.Clock.AudioSeconds, SampleRate = job.OutputSampleRate },
                    stall,
                    connectionAborted);
            },
            error => SendErrorAsync(socket, error, stall, connectionAborted, requestId).AsTask());
    }

    /// <summary>
    /// Counts each request that the client's close or a broken connection leaves unanswered, <paramref name="inHand"/> and
    /// those still waiting in <paramref name="inbox"/>, as 499 (the client closed it), an oversized one as 413, in the
    /// connection's class: every request read is counted once, answered or not.
    /// </summary>
    private static void CountClientGone(ReceivedMessage? inHand, ChannelReader<ReceivedMessage> inbox, HttpContext context, SpeechServices services)
    {
        var priority = ConnectionPriority(context);
        if (inHand is { } message)
        {
            CountUnanswered(message);
        }

        while (inbox.TryRead(out var waiting))
        {
            CountUnanswered(waiting);
        }

        void CountUnanswered(ReceivedMessage unanswered)
        {
            if (unanswered.AwaitsAnswer)
            {
                // An oversized message is refused for its size, whatever became of its connection after it.
                services.Count(unanswered.Kind == MessageKind.TooBig ? Oversized.Status : MeshStatusCodes.ClientClosedRequest, priority);
            }
        }
    }

    /// <summary>Counts a message refused before it ran, in the connection's class, and answers it with an <c>error</c> event.</summary>
    private static ValueTask RefuseAsync(
        WebSocket socket, ApiError error, HttpContext context, SpeechServices services, WriteStallGuard stall, CancellationToken cancellationToken)
    {
        services.Count(error, ConnectionPriority(context));
        return SendErrorAsync(socket, error, stall, cancellationToken);
    }

    /// <summary>The class of the connection's requests: the upgrade's <c>X-Priority</c>, else the WebSocket's default.</summary>
    private static string ConnectionPriority(HttpContext context) =>
        SpeechPreparation.PriorityOf(null, SurfaceDefaults.Pcm, context.Request.Headers[MeshHeaders.Priority].FirstOrDefault());

    /// <summary>An <c>error</c> event; one that ends a started request carries the request id its <c>start</c> gave.</summary>
    private static ValueTask SendErrorAsync(WebSocket socket, ApiError error, WriteStallGuard stall, CancellationToken cancellationToken, string? requestId = null) =>
        SendEventAsync(socket, StreamEvent.Failed(error) with { RequestId = requestId }, stall, cancellationToken);

    /// <summary>An event, sent under <paramref name="stall"/>, so that a client that reads nothing cannot hold the connection.</summary>
    private static ValueTask SendEventAsync(WebSocket socket, StreamEvent streamEvent, WriteStallGuard stall, CancellationToken cancellationToken) =>
        stall.SendAsync(socket, Serialized(streamEvent), WebSocketMessageType.Text, true, cancellationToken);

    private static byte[] Serialized(StreamEvent streamEvent) => JsonSerializer.SerializeToUtf8Bytes(streamEvent, ContractsJsonContext.Wire.StreamEvent);

    private static Counter.Child IdleCloses(BackendOptions backend) => BackendMetrics.WebSocketIdleCloses.WithLabels(backend.Name, backend.Variant);

    private readonly record struct ReceivedMessage(MessageKind Kind, ReadOnlyMemory<byte> Body)
    {
        public static readonly ReceivedMessage Refused = new(MessageKind.Refused, ReadOnlyMemory<byte>.Empty);

        public static readonly ReceivedMessage TooBig = new(MessageKind.TooBig, ReadOnlyMemory<byte>.Empty);

        public static readonly ReceivedMessage Close = new(MessageKind.Close, ReadOnlyMemory<byte>.Empty);

        /// <summary>A message the client expects an answer to: a request, an oversized or binary message, or a refusal not yet sent.</summary>
        public bool AwaitsAnswer => Kind is not MessageKind.Close;
    }

    /// <summary>
    /// Reads the client's messages one at a time. An oversized one is returned as soon as it exceeds
    /// <see cref="MaxMessageBytes"/>, so that its 1009 goes out however long the client sends; the next read skips the
    /// rest of it.
    /// </summary>
    private sealed class MessageReader(WebSocket socket)
    {
        private readonly ArrayBufferWriter<byte> _buffer = new(4096);
        private bool _inOversized;

        public async Task<ReceivedMessage> ReceiveAsync(CancellationToken cancellationToken)
        {
            _buffer.ResetWrittenCount();
            while (true)
            {
                var result = await socket.ReceiveAsync(_buffer.GetMemory(4096), cancellationToken);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return ReceivedMessage.Close;
                }

                if (_inOversized)
                {
                    // Left unwritten: the rest of an oversized message only passes through the buffer.
                    _inOversized = !result.EndOfMessage;
                    continue;
                }

                _buffer.Advance(result.Count);
                if (_buffer.WrittenCount > MaxMessageBytes)
                {
                    _inOversized = !result.EndOfMessage;
                    return ReceivedMessage.TooBig;
                }

                if (result.EndOfMessage)
                {
                    // Copied out: the buffer takes the next message while this one runs.
                    var kind = result.MessageType == WebSocketMessageType.Text ? MessageKind.Text : MessageKind.Binary;
                    return new ReceivedMessage(kind, _buffer.WrittenMemory.ToArray());
                }
            }
        }
    }

    private enum MessageKind
    {
        Text,
        Binary,
        Close,

        /// <summary>A message over <see cref="MaxMessageBytes"/>; the rest of it is not kept.</summary>
        TooBig,

        /// <summary>A request sent while <see cref="MaxQueuedMessages"/> waited; its body is not kept.</summary>
        Refused,
    }

    /// <summary>How long a connection may sit without a request, and where closing one for it is counted.</summary>
    private sealed record IdleLimit(TimeSpan Timeout, Counter.Child Closes);

    private enum Wait
    {
        Message,
        Idle,
        Stopping,
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "WebSocket connection failed")]
    private static partial void LogConnectionFailed(ILogger logger, Exception exception);
}

/// <summary>WebSocket sessions (section <c>WebSockets</c>).</summary>
public sealed class WebSocketSessionOptions
{
    public const string Section = "WebSockets";

    /// <summary>
    /// A connection on which no request runs or waits for this long is closed, so an abandoned one cannot hold a socket
    /// (and through the gateway a relay) for ever; the maximum keeps the bound from being configured away.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);
}
