using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Yarp.ReverseProxy.Model;

namespace Mesh.Gateway.Health;

/// <summary>
/// Ends the requests of a backend that stopped answering: a hung or frozen process keeps its connections open and
/// sends nothing, so without this its requests waited for the proxy's 10-minute activity timeout while its probes had
/// long taken it out of rotation. Once <see cref="UnansweredProbesToEnd"/> probes in a row got no answer at all within
/// their timeout (not a refused connection, not a 503: a draining backend answers, and still finishes its streams),
/// and none of the backend's exchanges made progress for <see cref="StallToEnd"/>, each unanswered probe ends its
/// exchanges. A busy backend that answers its probes late but still streams to anyone keeps all its work. Before the
/// first byte the gateway then fails a request over like a refused one; after it, the stream ends marked, like one
/// whose backend died.
/// </summary>
public sealed partial class UnresponsiveBackends(ILogger<UnresponsiveBackends> logger)
{
    /// <summary>One probe timeout already takes a backend out of rotation; from the second in a row (6-10 s after it froze) its work ends.</summary>
    public const int UnansweredProbesToEnd = 2;

    /// <summary>No byte from the backend on any exchange for this long: two probes' timeouts, so a backend frozen since its first unanswered probe qualifies.</summary>
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
        else if (++watch.Unanswered >= UnansweredProbesToEnd && watch.StalledFor(StallToEnd) && watch.EndAll() is > 0 and var ended)
        {
            LogUnresponsive(logger, destination.DestinationId, watch.Unanswered, ended, StallToEnd.TotalSeconds);
        }
    }

    /// <summary>A probe's outcome: a timeout is no answer; an answer of any status, or a refused connection, is one.</summary>
    public static bool Answered(Exception? probeFailure) => probeFailure is not OperationCanceledException;

    [LoggerMessage(Level = LogLevel.Warning, Message =
        "Backend {Backend} answered none of its last {Probes} health probes and sent nothing for {StallSeconds} s; ended {Ended} of its requests in flight")]
    private static partial void LogUnresponsive(ILogger logger, string backend, int probes, int ended, double stallSeconds);

    /// <summary>The exchanges in flight with one backend. Probes of a backend complete one at a time; exchanges come and go on any thread.</summary>
    public sealed class BackendWatch
    {
        private readonly ConcurrentDictionary<BackendExchange, byte> _exchanges = new();
        private long _lastProgress = Environment.TickCount64;

        internal int Unanswered { get; set; }

        /// <summary>Begins watching one request (or WebSocket) sent to the backend; disposing it ends the watch.</summary>
        public BackendExchange Begin()
        {
            var exchange = new BackendExchange(this);
            _exchanges.TryAdd(exchange, 0);
            return exchange;
        }

        internal void Progressed() => Volatile.Write(ref _lastProgress, Environment.TickCount64);

        internal void Remove(BackendExchange exchange) => _exchanges.TryRemove(exchange, out _);

        /// <summary>Whether no exchange got anything from the backend for <paramref name="stall"/> (none begun in it either).</summary>
        internal bool StalledFor(TimeSpan stall) => Environment.TickCount64 - Volatile.Read(ref _lastProgress) >= stall.TotalMilliseconds;

        /// <summary>Ends every exchange in flight, each once; returns how many.</summary>
        internal int EndAll()
        {
            var ended = 0;
            foreach (var exchange in _exchanges.Keys)
            {
                if (_exchanges.TryRemove(exchange, out _))
                {
                    exchange.End();
                    ended++;
                }
            }

            return ended;
        }
    }
}

/// <summary>
/// One request or WebSocket in flight with a backend: <see cref="Ended"/> is cancelled when its backend stopped
/// answering and sent nothing for a while. Its <see cref="CancellationTokenSource"/> has no timer, so it needs no
/// disposal, and a probe may end the exchange while its owner disposes it.
/// </summary>
public sealed class BackendExchange : IDisposable
{
    private readonly UnresponsiveBackends.BackendWatch _watch;
    private readonly CancellationTokenSource _ended = new();

    internal BackendExchange(UnresponsiveBackends.BackendWatch watch)
    {
        _watch = watch;
        watch.Progressed();
    }

    public CancellationToken Ended => _ended.Token;

    /// <summary>The backend sent something.</summary>
    public void Progressed() => _watch.Progressed();

    internal void End() => _ended.Cancel();

    public void Dispose() => _watch.Remove(this);
}
