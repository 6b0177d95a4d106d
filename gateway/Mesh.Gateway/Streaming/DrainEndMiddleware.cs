using Mesh.Contracts;
using Mesh.Contracts.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Mesh.Gateway.Streaming;

/// <summary>
/// Ends a proxied request still running when shutdown's drain time runs out (<see cref="DrainState.DrainEnded"/>),
/// <see cref="GracefulShutdown.EndAllowance"/> before the host aborts the connections, as a draining gateway's rather
/// than as one whose client went away: its forward is cancelled as the client's leaving cancels it; one not yet
/// answered gets the 503 <c>draining</c> envelope, a started SSE stream the <c>draining</c> error event
/// (<see cref="StreamEndMiddleware"/>), raw audio its cut; each counts as 503. The WebSocket relay ends its own.
/// </summary>
public sealed class DrainEndMiddleware(RequestDelegate next, DrainState drain)
{
    /// <summary>The error of a request the gateway's shutdown ended: another gateway may serve it anew.</summary>
    public static readonly ApiError DrainRanOut = ApiError.Unavailable("The gateway shut down before the request ended; retry.", "draining");

    private static readonly object LifetimeItem = new();

    /// <summary>Whether the end of the drain, not the client's leaving, ended this request.</summary>
    public static bool EndedByDrain(HttpContext context) =>
        context.Items.TryGetValue(LifetimeItem, out var lifetime) && lifetime is DrainEndedLifetime { EndedByDrain: true };

    public async Task InvokeAsync(HttpContext context)
    {
        if (context.WebSockets.IsWebSocketRequest)
        {
            await next(context);
            return;
        }

        var connection = context.Features.GetRequiredFeature<IHttpRequestLifetimeFeature>();
        using var lifetime = new DrainEndedLifetime(connection, drain.DrainEnded);
        context.Features.Set<IHttpRequestLifetimeFeature>(lifetime);
        context.Items[LifetimeItem] = lifetime;
        try
        {
            await next(context);
        }
        finally
        {
            context.Features.Set(connection);
        }

        if (lifetime.EndedByDrain && !context.Response.HasStarted)
        {
            context.Response.Clear();
            await ApiResults.WriteErrorAsync(context, DrainRanOut);
        }
    }

    /// <summary>
    /// The connection's lifetime, its <see cref="RequestAborted"/> also cancelled at the end of the drain, which it notes
    /// unless the client had already left.
    /// </summary>
    private sealed class DrainEndedLifetime : IHttpRequestLifetimeFeature, IDisposable
    {
        private readonly IHttpRequestLifetimeFeature _connection;
        private readonly CancellationTokenSource _aborted;
        private readonly CancellationTokenRegistration _drainEnded;
        private volatile bool _endedByDrain;

        public DrainEndedLifetime(IHttpRequestLifetimeFeature connection, CancellationToken drainEnded)
        {
            _connection = connection;
            _aborted = CancellationTokenSource.CreateLinkedTokenSource(connection.RequestAborted);
            _drainEnded = drainEnded.Register(() =>
            {
                _endedByDrain = !connection.RequestAborted.IsCancellationRequested;
                _aborted.Cancel();
            });
        }

        public bool EndedByDrain => _endedByDrain;

        public CancellationToken RequestAborted
        {
            get => _aborted.Token;
            set => throw new NotSupportedException("The token is the connection's, cancelled also at the end of the drain.");
        }

        public void Abort() => _connection.Abort();

        public void Dispose()
        {
            _drainEnded.Dispose();
            _aborted.Dispose();
        }
    }
}
