using System.Net.WebSockets;
using Mesh.Contracts;
using Mesh.Contracts.Http;
using Mesh.Gateway.Routing;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.Gateway.Streaming;

/// <summary>
/// Terminates WebSockets at the gateway and relays messages to the backend the balancer picked, instead of YARP's
/// opaque byte copy, so the gateway can keep its promises: a browser from a foreign origin is refused, and a backend
/// that dies mid-stream ends the client's socket with close code 1011 (not a dropped TCP connection) and is counted.
/// A backend that refuses the handshake is reported like a refused HTTP request, so failover and passive health apply.
/// </summary>
public sealed partial class WebSocketRelayMiddleware(RequestDelegate next, IOptionsMonitor<WebSocketRelayOptions> options, ILogger<WebSocketRelayMiddleware> logger)
{
    private const int BufferBytes = 16 * 1024;
    private static readonly TimeSpan CloseHandshakeTimeout = TimeSpan.FromSeconds(5);

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
                StatusCodes.Status403Forbidden, $"WebSocket connections from origin '{origin}' are not allowed.", "permission_error", "Origin", "origin_not_allowed"));
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
        await RelayAsync(client, backend, context, RouteDecision.Of(context));
    }

    private async Task RelayAsync(WebSocket client, ClientWebSocket backend, HttpContext context, RouteDecision? decision)
    {
        // No cancellation tokens on the pumps: cancelling a pending receive aborts the socket, which would turn every
        // orderly close into a reset. Each side ends by a close frame or a failure instead.
        var toBackend = PumpAsync(client, backend);
        var toClient = PumpAsync(backend, client);
        var first = await Task.WhenAny(toBackend, toClient);
        if (first == toClient && toClient.Result == PumpEnd.Broken && client.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            // The backend died mid-stream: tell the client plainly instead of dropping the connection.
            LogBackendLost(logger, context.GetReverseProxyFeature().ProxiedDestination?.DestinationId);
            GatewayMetrics.StreamFailures.WithLabels(decision?.Variant ?? "none", decision?.Pool ?? "none", "websocket").Inc();
            await CloseQuietlyAsync(client, WebSocketCloseStatus.InternalServerError, "backend failed");
        }
        else if (first == toBackend && toBackend.Result == PumpEnd.Broken)
        {
            backend.Abort();
        }

        var other = first == toBackend ? toClient : toBackend;
        if (await Task.WhenAny(other, Task.Delay(CloseHandshakeTimeout)) != other)
        {
            client.Abort();
            backend.Abort();
        }

        await other;
    }

    /// <summary>Copies messages from one socket to the other until a close (passed on) or a failure.</summary>
    private static async Task<PumpEnd> PumpAsync(WebSocket from, WebSocket to)
    {
        var buffer = new byte[BufferBytes];
        try
        {
            while (true)
            {
                var received = await from.ReceiveAsync(buffer, CancellationToken.None);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    if (to.State is WebSocketState.Open or WebSocketState.CloseReceived)
                    {
                        await to.CloseOutputAsync(received.CloseStatus ?? WebSocketCloseStatus.NormalClosure, received.CloseStatusDescription, CancellationToken.None);
                    }

                    return PumpEnd.Closed;
                }

                await to.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, CancellationToken.None);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException)
        {
            return PumpEnd.Broken;
        }
    }

    private static async Task CloseQuietlyAsync(WebSocket socket, WebSocketCloseStatus status, string? reason)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await socket.CloseOutputAsync(status, reason, timeout.Token);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
            // Already gone.
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
        Broken,
    }

    private sealed record RelayError(ForwarderError Error, Exception? Exception) : IForwarderErrorFeature;
}

/// <summary>WebSocket settings (section <c>Mesh:WebSockets</c>): browsers from these origins may connect besides the gateway's own.</summary>
public sealed class WebSocketRelayOptions
{
    public const string Section = "Mesh:WebSockets";

    public List<string> AllowedOrigins { get; set; } = [];
}
