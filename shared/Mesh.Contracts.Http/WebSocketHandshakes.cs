using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Mesh.Contracts.Http;

/// <summary>
/// What a WebSocket path answers a GET it cannot upgrade, the same on the gateway and the backends. A request that does
/// not ask for the upgrade, or asks for a version of the protocol this server does not speak, is told which upgrade it
/// needs: 426 with <c>Upgrade: websocket</c> (RFC 9110 §15.5.22) and <c>Sec-WebSocket-Version</c> (RFC 6455 §4.2.2).
/// A handshake that asks for the right upgrade but is malformed is a 400 (RFC 6455 §4.2.1).
/// </summary>
public static class WebSocketHandshakes
{
    /// <summary>The one version of the protocol the server accepts: RFC 6455's.</summary>
    public const string SupportedVersion = "13";

    private const string WebSocket = "websocket";

    /// <summary>
    /// The close status (in RFC 6455's private range) the gateway sends a backend for a client frame its own WebSocket
    /// refused (a text message that is not UTF-8, a malformed frame), so that the backend counts it as it counts one it
    /// refuses itself; a client's own 1002 or 1007, passed on unchanged, is no refusal of ours.
    /// </summary>
    public const int ClientFrameRefusedStatus = 4400;

    /// <summary>
    /// A header the gateway's relay sets on the upgrade it sends a backend, so that the backend believes a
    /// <see cref="ClientFrameRefusedStatus"/> close only from the relay: a client connected directly may close with any
    /// private status, this one too. The relay forwards none of its client's headers but the request id and priority, so
    /// no client sends it through the gateway.
    /// </summary>
    public const string RelayHeader = "X-Mesh-Relay";

    /// <summary>The reason of the 1001 close with which a backend or the gateway ends a WebSocket as it shuts down.</summary>
    public const string ShuttingDown = "server shutting down";

    /// <summary>The paths that speak WebSocket, on the gateway and every backend.</summary>
    public static IReadOnlyList<string> Paths { get; } = ["/ws", "/v1/audio/speech/ws"];

    /// <summary>The refusal of a request to a WebSocket path that <see cref="HttpContext.WebSockets"/> does not take for a handshake.</summary>
    public static IResult Refusal(HttpRequest request)
    {
        if (!request.Headers.GetCommaSeparatedValues(HeaderNames.Upgrade).Contains(WebSocket, StringComparer.OrdinalIgnoreCase))
        {
            return new UpgradeRequired(new(
                StatusCodes.Status426UpgradeRequired,
                $"This endpoint speaks WebSocket; send an upgrade request (Upgrade: websocket, Sec-WebSocket-Version: {SupportedVersion}).",
                ErrorTypes.InvalidRequest, null, "websocket_required"));
        }

        var version = request.Headers.SecWebSocketVersion.ToString();
        if (version != SupportedVersion)
        {
            var asked = version.Length == 0 ? "The handshake names no Sec-WebSocket-Version" : $"Sec-WebSocket-Version '{version}' is not supported";
            return new UpgradeRequired(new(
                StatusCodes.Status426UpgradeRequired,
                $"{asked}; this server speaks version {SupportedVersion}.",
                ErrorTypes.InvalidRequest, HeaderNames.SecWebSocketVersion, "unsupported_websocket_version"));
        }

        return ApiResults.Error(ApiError.InvalidRequest(
            "The WebSocket handshake is malformed: it needs 'Connection: Upgrade' and a Sec-WebSocket-Key of 16 bytes in base64 (RFC 6455 §4.1).",
            null, "invalid_websocket_handshake"));
    }

    /// <summary>A 426 names the upgrade it requires, in <c>Upgrade</c> and, as RFC 9110 §7.8 asks of a sender of it, <c>Connection</c>.</summary>
    private sealed class UpgradeRequired(ApiError error) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            var headers = httpContext.Response.Headers;
            headers.Upgrade = WebSocket;
            headers.Connection = HeaderNames.Upgrade;
            headers.SecWebSocketVersion = SupportedVersion;
            return ApiResults.Error(error).ExecuteAsync(httpContext);
        }
    }
}
