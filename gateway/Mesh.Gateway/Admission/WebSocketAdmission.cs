using System.Diagnostics;
using System.Text.Json;
using Mesh.Contracts;
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
/// </summary>
public sealed class WebSocketAdmission(AdmissionController admission, RouteDecision decision, ClientIdentity? identity) : IDisposable
{
    private readonly Lock _lock = new();

    // When each forwarded request arrived, oldest first, until its end: the backend answers them in order.
    private readonly Queue<long> _unanswered = new();
    private AdmissionController.Lease? _lease;
    private int _outstanding;
    private bool _oldestHeard;

    /// <summary>
    /// Counts a request the client has begun to send: null when it may be forwarded, else the error that answers it
    /// instead. Throws <see cref="OperationCanceledException"/> when the client leaves while the request waits for a
    /// slot (<paramref name="clientGone"/>, counted as <c>client_gone</c>) or the connection ends (<paramref name="ending"/>).
    /// </summary>
    /// <param name="arrival">The request's first frame's <see cref="Stopwatch"/> timestamp, for its time to first audio.</param>
    public async Task<ApiError?> AdmitRequestAsync(long arrival, CancellationToken clientGone, CancellationToken ending)
    {
        if (identity is { RateLimit: { } bucket, KeyName: { } keyName } && !bucket.TryTake(out var wait))
        {
            var limited = ApiKeyMiddleware.RateLimited(keyName, wait);
            GatewayMetrics.AuthFailures.WithLabels(limited.Code!).Inc();
            return limited;
        }

        lock (_lock)
        {
            if (_outstanding > 0)
            {
                _outstanding++;
                _unanswered.Enqueue(arrival);
                return null;
            }
        }

        // Nothing outstanding, and only this (the client's) side adds requests: the count stays 0 while the slot is sought.
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(clientGone, ending);
        var result = await AdmissionMiddleware.AdmitAsync(admission, decision, clientGone, waiting.Token)
            ?? throw new OperationCanceledException(clientGone);
        if (result.Lease is null)
        {
            return AdmissionMiddleware.ShedError(decision, result.ShedReason!);
        }

        lock (_lock)
        {
            _lease = result.Lease;
            _outstanding = 1;
            _unanswered.Enqueue(arrival);
        }

        return null;
    }

    /// <summary>
    /// Reads a text message of the backend's as it is forwarded: a terminal event leaves one request fewer
    /// outstanding, and the slot goes back at 0.
    /// </summary>
    public void OnBackendEvent(ReadOnlySpan<byte> message)
    {
        if (!IsTerminal(message))
        {
            return;
        }

        AdmissionController.Lease? freed = null;
        lock (_lock)
        {
            _unanswered.TryDequeue(out _);
            _oldestHeard = false;
            if (_outstanding > 0 && --_outstanding == 0)
            {
                (freed, _lease) = (_lease, null);
            }
        }

        freed?.Dispose();
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
            if (_oldestHeard || !_unanswered.TryPeek(out arrival))
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
            _unanswered.Clear();
        }

        freed?.Dispose();
    }

    private static bool IsTerminal(ReadOnlySpan<byte> message)
    {
        try
        {
            return JsonSerializer.Deserialize(message, ContractsJsonContext.Wire.StreamEvent)?.Type is StreamEvent.Done or StreamEvent.Failure;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
