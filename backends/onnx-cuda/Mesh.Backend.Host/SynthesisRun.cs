using System.Net.WebSockets;
using Mesh.Contracts;
using Mesh.Contracts.Http;

namespace Mesh.Backend.Host;

/// <summary>
/// One request's synthesis on a surface (HTTP or WebSocket), and how it ended, counted once in
/// <c>mesh_requests_total</c>, as it ends: 200 complete, the status of the error that ended it, or, for a client that
/// leaves or stops reading for the stall timeout, 499 unless a status went out (an HTTP response's 200 status line). No
/// audio within the timeout ends it with a 504 error, the end of shutdown's drain with a 503 <c>draining</c> one, any
/// other failure with a 500 one, which the surface writes; a surface that can only cut its started response counts
/// the failure as the 502 the gateway counts the cut as.
/// </summary>
public sealed partial class SynthesisRun : IDisposable
{
    /// <summary>The error of a stream still running when the drain time has run out: another backend may serve it anew.</summary>
    private static readonly ApiError DrainRanOut = ApiError.Unavailable("This backend shut down before the stream ended; retry on another.", "draining");

    private readonly FirstAudioDeadline _deadline;
    private readonly CancellationTokenSource _cancellation;
    private readonly WriteStallGuard _stall;
    private readonly TimeSpan _stallTimeout;
    private readonly string _requestId;
    private readonly string[] _labels;
    private readonly ILogger _logger;
    private readonly CancellationToken _clientGone;
    private bool _counted;
    private bool _completed;
    private bool _responseStarted;
    private bool _failuresCut;

    /// <param name="stall">The guard of the request's writes; a stall it cut ends the request as its client's leaving.</param>
    public SynthesisRun(
        SpeechServices services,
        long startTimestamp,
        int sampleRate,
        string[] labels,
        string requestId,
        WriteStallGuard stall,
        ILogger logger,
        CancellationToken clientGone)
    {
        _deadline = new FirstAudioDeadline(services.FirstAudioTimeout, startTimestamp, clientGone);
        _cancellation = CancellationTokenSource.CreateLinkedTokenSource(_deadline.Token, services.DrainEnded);
        _stall = stall;
        _stallTimeout = services.StallTimeout;
        _requestId = requestId;
        _labels = labels;
        _logger = logger;
        _clientGone = clientGone;
        Clock = new StreamClock(startTimestamp, sampleRate, labels);
    }

    public StreamClock Clock { get; }

    /// <summary>Whether the request ended because its client left or stopped reading: nothing is left to answer.</summary>
    public bool ClientGone { get; private set; }

    /// <summary>
    /// Runs <paramref name="stream"/>, the surface's synthesis and writes, under the request's cancellation, and ends the
    /// request as it ended: a failure is counted and handed to <paramref name="writeError"/>; a client gone is counted
    /// and rethrown, so that the surface drops its connection.
    /// </summary>
    public async Task RunAsync(Func<CancellationToken, Task> stream, Func<ApiError, Task> writeError)
    {
        try
        {
            await stream(_cancellation.Token);
        }
        catch (Exception ex) when (_stall.Stalled || ex is WebSocketException || (ex is OperationCanceledException && _clientGone.IsCancellationRequested))
        {
            ClientGone = true;
            if (_stall.Stalled)
            {
                // Its client took none of it: gone, as the gateway counts it, but no cancellation.
                Count(Unanswered);
                StalledStreams.Count(_logger, _requestId, _stallTimeout, _labels);
            }
            else if (!_completed)
            {
                // It closed the connection, or it broke under a write: its work was cut.
                Count(Unanswered);
                BackendMetrics.Cancellations.WithLabels(_labels).Inc();
            }

            throw;
        }
        catch (OperationCanceledException)
        {
            // The end of the drain, before the host aborts the connection; else the first-audio deadline, after a
            // status went out only if it fired as the first audio came.
            var error = _deadline.Token.IsCancellationRequested ? _deadline.Error : DrainRanOut;
            Count(FailedWith(error));
            await writeError(error);
        }
        catch (Exception ex)
        {
            LogSynthesisFailed(_logger, ex);
            var failed = ApiError.Internal("Synthesis failed.");
            Count(FailedWith(failed));
            await writeError(failed);
        }
    }

    /// <summary>
    /// Records that an HTTP response's 200 status line went out, on a surface that marks a failure after it with an
    /// <c>error</c> event, or not (<paramref name="failuresCut"/>: raw audio, whose connection is cut).
    /// </summary>
    public void OnResponseStarted(bool failuresCut)
    {
        _responseStarted = true;
        _failuresCut = failuresCut;
    }

    /// <summary>Records <paramref name="samples"/> samples of audio made: the first audio disarms the deadline.</summary>
    public void OnProduced(int samples)
    {
        if (samples > 0)
        {
            _deadline.OnAudio();
        }

        Clock.OnProduced(samples);
    }

    /// <summary>Records the end of the request's audio: complete, and 200.</summary>
    public void Complete()
    {
        Clock.OnComplete();
        _completed = true;
        Count(StatusCodes.Status200OK);
    }

    public void Dispose()
    {
        _cancellation.Dispose();
        _deadline.Dispose();
    }

    /// <summary>A request whose client left: 499, unless its 200 went out.</summary>
    private int Unanswered => _responseStarted ? StatusCodes.Status200OK : MeshStatusCodes.ClientClosedRequest;

    /// <summary>
    /// A request that ended with <paramref name="error"/>: its status, unless its response started on a surface that
    /// can only cut it, which the gateway, unable to tell a deliberate cut from a dead backend, counts as 502.
    /// </summary>
    private int FailedWith(ApiError error) => _responseStarted && _failuresCut ? StatusCodes.Status502BadGateway : error.Status;

    /// <summary>Counts the request as <paramref name="status"/>, unless it was counted already: its first status stands.</summary>
    private void Count(int status)
    {
        if (!_counted)
        {
            _counted = true;
            BackendMetrics.CountRequest(_labels, status);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Synthesis failed")]
    private static partial void LogSynthesisFailed(ILogger logger, Exception exception);
}
