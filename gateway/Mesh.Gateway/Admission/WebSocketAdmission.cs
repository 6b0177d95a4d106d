using System.Diagnostics;
using System.Text.Json;
using Mesh.Contracts;
using Mesh.Contracts.Http;
using Mesh.Gateway.Auth;
using Mesh.Gateway.Routing;

namespace Mesh.Gateway.Admission;

/// <summary>
/// Admission for one WebSocket connection, which holds a slot only while the backend has a request of it to answer.
/// A request sent while nothing is outstanding is admitted like an HTTP request of the connection's priority (same
/// queue, deadline and metrics); requests sent after it, while the backend still works, share its slot. The backend
/// answers every request with one terminal event (<c>done</c> or <c>error</c>); the slot is freed when those bring the
/// count of outstanding requests back to 0, and when the connection ends. Each request also takes a token of the
/// caller's API key, as an HTTP request does: the handshake's one token must not buy a connection unlimited requests.
/// One over the key's rate is counted as an HTTP one is, with no route (<c>none</c>). Each other request is counted in <c>mesh_requests_total</c> as the client saw it answered (the upgrade is not): 200 for a
/// <c>done</c>, the status of its <c>error</c> event, 499 when the client left first; those the connection's end leaves
/// unanswered, with the status the relay gives for that end (<see cref="CountUnanswered"/>). A forwarded request's own
/// duration, from its first frame to its terminal event or the end, is its <c>mesh_request_duration_seconds</c>.
/// A request is registered as its first frame is read (<see cref="OnRequestReceived"/>), before its turn to be admitted
/// comes: once the gateway's drain begins (<see cref="BeginDrain"/>), each one not yet admitted is held, not forwarded,
/// for the relay to answer as draining after those under way, as a draining backend answers one it reads then.
/// </summary>
public sealed class WebSocketAdmission(AdmissionController admission, RouteDecision decision, ClientIdentity? identity) : IDisposable
{
    private readonly Lock _lock = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // When each request forwarded arrived, oldest first, until it is counted: the backend answers them in order.
    private readonly Queue<long> _forwarded = new();

    // When each request read but not yet admitted arrived, oldest first: the one the relay reads ahead while the one
    // before it waits for a slot, and, once the drain has begun, every one read, held here for the drain's answer.
    // They all came after those forwarded and the one waiting for a slot.
    private readonly Queue<long> _received = new();
    private AdmissionController.Lease? _lease;
    private int _outstanding;
    private bool _oldestHeard;

    // The request_id the backend's start event gave the oldest unanswered request, once it came.
    private string? _oldestRequestId;

    // The arrival of the request waiting for a slot, while it waits, and left set when the connection's end drops it
    // there: it is unanswered as much as one forwarded, until the end answers or counts it.
    private long? _seeking;

    // Set while an error the admission gave a request has yet to go out: the drain's close must not pass it.
    private bool _answerPending;
    private bool _draining;
    private Refusal _refusal;

    /// <summary>Whether a request forwarded to the backend, or waiting for a slot to be, still waits for its answer.</summary>
    public bool AwaitsBackend
    {
        get
        {
            lock (_lock)
            {
                return _outstanding > 0 || _seeking is not null;
            }
        }
    }

    /// <summary>
    /// Completes once the drain has begun and no request of the client's is under way (forwarded, waiting for a slot, or
    /// answered by the gateway without its answer sent yet): the relay may end the connection then.
    /// </summary>
    public Task Drained => _drained.Task;

    /// <summary>
    /// Registers a request whose first frame the relay has just read, at once, though its turn to be admitted may come
    /// only once the one before it has a slot: the drain answers it even if that turn never comes.
    /// </summary>
    public void OnRequestReceived()
    {
        lock (_lock)
        {
            _received.Enqueue(Stopwatch.GetTimestamp());
        }
    }

    /// <summary>
    /// Admits the oldest request received (<see cref="OnRequestReceived"/>) and tells what becomes of it: forwarded,
    /// answered with an error of the gateway's (<see cref="OnAnswerSent"/> once that went out), or, during the drain,
    /// held for the drain's answer.
    /// Throws <see cref="OperationCanceledException"/> when the client leaves while the request waits for a slot
    /// (<paramref name="clientGone"/>, counted as <c>client_gone</c>) or the connection ends (<paramref name="ending"/>).
    /// </summary>
    public async Task<WebSocketVerdict> AdmitRequestAsync(CancellationToken clientGone, CancellationToken ending)
    {
        ApiError? limited = null;
        long arrival;
        lock (_lock)
        {
            if (_draining)
            {
                // Left received, to be answered in its turn, after those under way, as the drain ends the connection;
                // it takes no token.
                return WebSocketVerdict.Hold;
            }

            arrival = _received.Dequeue();
            if (identity is { RateLimit: { } bucket, KeyName: { } keyName } && !bucket.TryTake(out var wait))
            {
                limited = ApiKeyMiddleware.RateLimited(keyName, wait);
                _answerPending = true;
            }
            else if (_outstanding > 0)
            {
                _outstanding++;
                _forwarded.Enqueue(arrival);
                return WebSocketVerdict.Forward;
            }
            else
            {
                _seeking = arrival;
            }
        }

        if (limited is not null)
        {
            GatewayMetrics.AuthFailures.WithLabels(limited.Code!).Inc();
            // Refused for its key, as an HTTP request over its rate is before it is routed: no pool's traffic.
            GatewayMetrics.CountRequest(null, limited.Status);
            return WebSocketVerdict.Refuse(limited);
        }

        // Nothing outstanding, and only this (the client's) side adds requests: the count stays 0 while the slot is sought.
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(clientGone, ending);
        Admission result;
        try
        {
            result = await AdmissionMiddleware.AdmitAsync(admission, decision, clientGone, waiting.Token)
                ?? throw new OperationCanceledException(clientGone);
        }
        catch (OperationCanceledException) when (clientGone.IsCancellationRequested)
        {
            bool wasSought;
            lock (_lock)
            {
                wasSought = StopSeeking();
            }

            if (wasSought)
            {
                GatewayMetrics.CountRequest(decision, MeshStatusCodes.ClientClosedRequest);
            }

            throw;
        }

        // A request the connection's end left waiting stays sought: the end answers or counts it with the others it leaves.
        bool stillSought;
        lock (_lock)
        {
            stillSought = StopSeeking();
            if (stillSought && result.Lease is { } lease)
            {
                _lease = lease;
                _outstanding = 1;
                _forwarded.Enqueue(arrival);
                return WebSocketVerdict.Forward;
            }

            _answerPending = stillSought;
        }

        if (!stillSought)
        {
            // The connection's end answered or counted the request while it waited: the slot it got came too late.
            result.Lease?.Dispose();
            return WebSocketVerdict.Hold;
        }

        var shed = AdmissionMiddleware.ShedError(decision, result.ShedReason!);
        GatewayMetrics.CountRequest(decision, shed.Status);
        return WebSocketVerdict.Refuse(shed);
    }

    /// <summary>The error <see cref="AdmitRequestAsync"/> gave a request went out (or could not): the drain may end the connection after it.</summary>
    public void OnAnswerSent()
    {
        lock (_lock)
        {
            _answerPending = false;
            SignalIfDrained();
        }
    }

    /// <summary>
    /// Begins the gateway's drain: requests not yet admitted, and those read from now on, are held for its answer, and
    /// <see cref="Drained"/> completes once none is under way.
    /// </summary>
    public void BeginDrain()
    {
        lock (_lock)
        {
            _draining = true;
            SignalIfDrained();
        }
    }

    /// <summary>
    /// Reads a text message of the backend's as it is forwarded: a terminal event answers the oldest request, which is
    /// counted with its status, and the slot goes back when none is left outstanding.
    /// </summary>
    public void OnBackendEvent(ReadOnlySpan<byte> message)
    {
        var backendEvent = Parse(message);
        if (backendEvent is { Type: StreamEvent.Start })
        {
            lock (_lock)
            {
                _oldestRequestId = backendEvent.RequestId;
            }

            return;
        }

        if (TerminalStatus(backendEvent) is not { } status)
        {
            return;
        }

        AdmissionController.Lease? freed = null;
        bool answered;
        long arrival;
        lock (_lock)
        {
            answered = _forwarded.TryDequeue(out arrival);
            _oldestHeard = false;
            _oldestRequestId = null;
            if (_outstanding > 0 && --_outstanding == 0)
            {
                (freed, _lease) = (_lease, null);
                SignalIfDrained();
            }
        }

        freed?.Dispose();
        if (answered)
        {
            CountAnswered(arrival, status);
        }
    }

    /// <summary>
    /// Counts each request still unanswered as the connection ends with <paramref name="status"/>: 499 when the client
    /// left, the relay's status for a backend that failed or closed the connection.
    /// </summary>
    public void CountUnanswered(int status)
    {
        long[] unanswered;
        Refusal refusal;
        lock (_lock)
        {
            unanswered = TakeUnanswered();
            (refusal, _refusal) = (_refusal, Refusal.None);
        }

        // A refused message counts as 400, as the backend counts the relay's close for it; after the backend's 1009 it
        // was the oversized message's tail, which counts 413 with the rest.
        if (refusal != Refusal.None && status != StatusCodes.Status413PayloadTooLarge)
        {
            var ofForwarded = refusal == Refusal.OfForwarded && unanswered.Length > 0;
            CountAnswered(ofForwarded ? unanswered[^1] : Stopwatch.GetTimestamp(), StatusCodes.Status400BadRequest);
            unanswered = ofForwarded ? unanswered[..^1] : unanswered;
        }

        foreach (var arrival in unanswered)
        {
            CountAnswered(arrival, status);
        }
    }

    /// <summary>
    /// Notes that the gateway's WebSocket refused a frame of the client's (a text message that is not UTF-8, a malformed
    /// frame), which <see cref="CountUnanswered"/> counts: <paramref name="continuedForwarded"/> when the frame continued
    /// the request forwarded last, else it began a request of its own, refused before it was admitted.
    /// </summary>
    public void NoteRefused(bool continuedForwarded)
    {
        lock (_lock)
        {
            _refusal = continuedForwarded ? Refusal.OfForwarded : Refusal.OfItsOwn;
        }
    }

    /// <summary>
    /// Answers each request still unanswered (forwarded, waiting for a slot, or held) with <paramref name="error"/>, as
    /// the gateway ends the connection, and counts it with its status: the <c>error</c> events to send, oldest first, the
    /// oldest with the request id its <c>start</c> gave, if that came.
    /// </summary>
    public IReadOnlyList<StreamEvent> AnswerUnanswered(ApiError error)
    {
        long[] unanswered;
        string? oldestRequestId;
        lock (_lock)
        {
            unanswered = TakeUnanswered();
            (oldestRequestId, _oldestRequestId) = (_oldestRequestId, null);
        }

        var failed = StreamEvent.Failed(error);
        var answers = new List<StreamEvent>(unanswered.Length);
        foreach (var arrival in unanswered)
        {
            CountAnswered(arrival, error.Status);
            answers.Add(answers.Count == 0 ? failed with { RequestId = oldestRequestId } : failed);
        }

        return answers;
    }

    /// <summary>
    /// Notes a PCM frame of the backend's as it is forwarded: the first of a request is its first audio, timed from its
    /// arrival like an HTTP request's response start (<c>mesh_tts_time_to_first_audio_seconds</c>).
    /// </summary>
    public void OnBackendAudio()
    {
        long arrival;
        lock (_lock)
        {
            if (_oldestHeard || !_forwarded.TryPeek(out arrival))
            {
                return;
            }

            _oldestHeard = true;
        }

        GatewayMetrics.TimeToFirstAudio.WithLabels(decision.Variant, decision.Pool, decision.Priority).Observe(Stopwatch.GetElapsedTime(arrival).TotalSeconds);
    }

    public void Dispose()
    {
        AdmissionController.Lease? freed;
        lock (_lock)
        {
            (freed, _lease, _outstanding) = (_lease, null, 0);
            _forwarded.Clear();
            _received.Clear();
        }

        freed?.Dispose();
    }

    /// <summary>
    /// The arrivals of the requests unanswered, oldest first: those forwarded, or the one waiting for a slot, then those
    /// received (held during the drain); taken under the lock.
    /// </summary>
    private long[] TakeUnanswered()
    {
        long[] seeking = _seeking is { } arrival ? [arrival] : [];
        long[] unanswered = [.. _forwarded, .. seeking, .. _received];
        _forwarded.Clear();
        _seeking = null;
        _received.Clear();
        return unanswered;
    }

    /// <summary>Whether the request waiting for a slot was still unanswered; it is no longer sought. Called under the lock.</summary>
    private bool StopSeeking()
    {
        var stillSought = _seeking is not null;
        _seeking = null;
        return stillSought;
    }

    /// <summary>Completes <see cref="Drained"/> if the drain has begun and nothing is under way; called under the lock.</summary>
    private void SignalIfDrained()
    {
        if (_draining && _outstanding == 0 && _seeking is null && !_answerPending)
        {
            _drained.TrySetResult();
        }
    }

    private void CountAnswered(long arrival, int status)
    {
        GatewayMetrics.CountRequest(decision, status);
        GatewayMetrics.RequestDuration.WithLabels(decision.Variant, decision.Pool, decision.Priority).Observe(Stopwatch.GetElapsedTime(arrival).TotalSeconds);
    }

    /// <summary>200 for a <c>done</c> event, an <c>error</c> event's status, null for any other message.</summary>
    private static int? TerminalStatus(StreamEvent? backendEvent) => backendEvent switch
    {
        { Type: StreamEvent.Done } => StatusCodes.Status200OK,
        // Every error event of a backend's carries its status; one without is a server error of an unknown kind.
        { Type: StreamEvent.Failure } failure => failure.Status ?? StatusCodes.Status500InternalServerError,
        _ => null,
    };

    /// <summary>The backend's event, or null for a message that is none.</summary>
    private static StreamEvent? Parse(ReadOnlySpan<byte> message)
    {
        try
        {
            return JsonSerializer.Deserialize(message, ContractsJsonContext.Wire.StreamEvent);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private enum Refusal
    {
        None,
        OfForwarded,
        OfItsOwn,
    }
}

/// <summary>What becomes of a WebSocket request: forwarded, answered with the gateway's own error, or held unforwarded.</summary>
public sealed record WebSocketVerdict(bool Forwards, ApiError? Answer)
{
    public static readonly WebSocketVerdict Forward = new(true, null);

    /// <summary>Not forwarded, and answered (or counted) by the connection's end, if at all.</summary>
    public static readonly WebSocketVerdict Hold = new(false, null);

    public static WebSocketVerdict Refuse(ApiError error) => new(false, error);
}
