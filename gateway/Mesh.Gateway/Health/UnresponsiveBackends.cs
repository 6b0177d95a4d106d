using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Yarp.ReverseProxy.Model;

namespace Mesh.Gateway.Health;

/// <summary>
/// Ends the stalled requests of a backend that stopped answering: a hung or frozen process keeps its connections open
/// and sends nothing, so without this its requests waited for the proxy's 10-minute activity timeout while its probes
/// had long taken it out of rotation. Once <see cref="UnansweredProbesToEnd"/> probes in a row got no answer at all
/// within their timeout (not a refused connection, not a 503: a draining backend answers, and still finishes its
/// streams), each unanswered probe ends the backend's exchanges that made no progress for <see cref="StallToEnd"/>.
/// Both must hold: a busy backend that answers a probe late but still streams keeps its streams. Before the first byte
/// the gateway then fails the request over like a refused one; after it, the stream ends marked, like one whose backend died.
/// </summary>
public sealed partial class UnresponsiveBackends(ILogger<UnresponsiveBackends> logger)
{
    /// <summary>One probe timeout already takes a backend out of rotation; from the second in a row (6-10 s after it froze) its stalled work ends.</summary>
    public const int UnansweredProbesToEnd = 2;

    /// <summary>No byte from the backend for this long: two probes' timeouts, so a backend frozen since the first unanswered probe qualifies.</summary>
    public static readonly TimeSpan StallToEnd = TimeSpan.FromSeconds(4);

    // Weak keys: a backend's watch goes with YARP's state of it when a reload removes it.
    private readonly ConditionalWeakTable<DestinationState, BackendWatch> _watches = new();

    /// <summary>The watch of one backend, where each exchange with it is begun.</summary>
    public BackendWatch Of(DestinationState destination) => _watches.GetValue(destination, _ => new());

    /// <summary>Records one probe of the backend: <paramref name="answered"/> is false when it got no answer in time.</summary>
    public void Probed(DestinationState destination, bool answered)
    {
        var watch = Of(destination);
        if (answered)
        {
            watch.Unanswered = 0;
        }
        else if (++watch.Unanswered >= UnansweredProbesToEnd && watch.EndStalled() is > 0 and var ended)
        {
            LogUnresponsive(logger, destination.DestinationId, watch.Unanswered, ended, StallToEnd.TotalSeconds);
        }
    }

    /// <summary>A probe's outcome: a timeout is no answer; an answer of any status, or a refused connection, is one.</summary>
    public static bool Answered(Exception? probeFailure) => probeFailure is not OperationCanceledException;

    [LoggerMessage(Level = LogLevel.Warning, Message =
        "Backend {Backend} answered none of its last {Probes} health probes; {Ended} requests in flight on it without progress for {StallSeconds} s are ended")]
    private static partial void LogUnresponsive(ILogger logger, string backend, int probes, int ended, double stallSeconds);

    /// <summary>The exchanges in flight with one backend. Probes of a backend complete one at a time, so only the set is shared.</summary>
    public sealed class BackendWatch
    {
        private readonly ConcurrentDictionary<BackendExchange, byte> _exchanges = new();

        internal int Unanswered { get; set; }

        /// <summary>Begins watching one request (or WebSocket) sent to the backend; disposing it ends the watch.</summary>
        public BackendExchange Begin()
        {
            var exchange = new BackendExchange(this);
            _exchanges.TryAdd(exchange, 0);
            return exchange;
        }

        internal void Remove(BackendExchange exchange) => _exchanges.TryRemove(exchange, out _);

        internal int EndStalled()
        {
            var ended = 0;
            foreach (var exchange in _exchanges.Keys.Where(e => e.StalledFor(StallToEnd)))
            {
                exchange.End();
                ended++;
            }

            return ended;
        }
    }
}

/// <summary>
/// One request or WebSocket in flight with a backend: <see cref="Ended"/> is cancelled when its backend stopped
/// answering and it made no <see cref="Progressed">progress</see> for a while.
/// </summary>
public sealed class BackendExchange : IDisposable
{
    private readonly UnresponsiveBackends.BackendWatch _watch;
    private readonly CancellationTokenSource _ended = new();
    private long _lastProgress = Environment.TickCount64;

    internal BackendExchange(UnresponsiveBackends.BackendWatch watch) => _watch = watch;

    public CancellationToken Ended => _ended.Token;

    /// <summary>The backend sent something.</summary>
    public void Progressed() => Volatile.Write(ref _lastProgress, Environment.TickCount64);

    internal bool StalledFor(TimeSpan stall) => Environment.TickCount64 - Volatile.Read(ref _lastProgress) >= stall.TotalMilliseconds;

    internal void End()
    {
        try
        {
            _ended.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // It ended on its own while the probe looked at it.
        }
    }

    public void Dispose()
    {
        _watch.Remove(this);
        _ended.Dispose();
    }
}
