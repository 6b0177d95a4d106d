using System.Runtime.CompilerServices;
using Yarp.ReverseProxy.Model;

namespace Mesh.Gateway.Health;

/// <summary>
/// Ends the requests in flight on a backend that stopped answering: a hung or frozen process keeps its connections
/// open and sends nothing, so without this its requests waited for the proxy's 10-minute activity timeout while its
/// probes had long taken it out of rotation. After <see cref="UnansweredProbesToAbort"/> probes in a row got no answer
/// at all within their timeout (not a refused connection, not a 503: a draining backend answers, and still finishes
/// its streams), each request's <see cref="LostToken"/> is cancelled. Before the first byte the gateway then fails the
/// request over like a refused one; after it, the stream ends marked, like one whose backend died.
/// </summary>
public sealed partial class UnresponsiveBackends(ILogger<UnresponsiveBackends> logger)
{
    /// <summary>One probe timeout already takes a backend out of rotation; a second in a row (6-10 s after it froze) ends its work.</summary>
    public const int UnansweredProbesToAbort = 2;

    // Weak keys: a backend's watch goes with YARP's state of it when a reload removes it.
    private readonly ConditionalWeakTable<DestinationState, Watch> _watches = new();

    /// <summary>Cancelled when the backend is found unresponsive; a request takes it as it is sent there.</summary>
    public CancellationToken LostToken(DestinationState destination) => _watches.GetValue(destination, _ => new()).Token;

    /// <summary>Records one probe of the backend: <paramref name="answered"/> is false when it got no answer in time.</summary>
    public void Probed(DestinationState destination, bool answered)
    {
        var watch = _watches.GetValue(destination, _ => new());
        if (answered)
        {
            watch.Unanswered = 0;
        }
        else if (++watch.Unanswered >= UnansweredProbesToAbort)
        {
            LogUnresponsive(logger, destination.DestinationId, watch.Unanswered);
            watch.Abort();
        }
    }

    /// <summary>A probe's outcome: a timeout is no answer; an answer of any status, or a refused connection, is one.</summary>
    public static bool Answered(Exception? probeFailure) => probeFailure is not OperationCanceledException;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Backend {Backend} answered none of its last {Probes} health probes; its requests in flight are ended")]
    private static partial void LogUnresponsive(ILogger logger, string backend, int probes);

    /// <summary>Probes are completed one cluster round at a time, so only the token source is shared with requests.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification =
        "Its token sources have no timer or wait handle, so the GC frees them whole; a cancelled one may still be linked by requests ending.")]
    private sealed class Watch
    {
        private CancellationTokenSource _lost = new();

        public int Unanswered { get; set; }

        public CancellationToken Token => Volatile.Read(ref _lost).Token;

        /// <summary>Cancels the requests sent so far; those sent later (once it answers again) take a fresh token.</summary>
        public void Abort() => Interlocked.Exchange(ref _lost, new CancellationTokenSource()).Cancel();
    }
}
