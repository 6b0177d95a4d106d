using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Mesh.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Mesh.Tests.Integration;

/// <summary>How <see cref="BreakingWebSocketBackend"/> breaks its side once the client's close reaches it.</summary>
public enum BackendBreak
{
    /// <summary>The connection is aborted: no close reply, a reset.</summary>
    Abort,

    /// <summary>Bytes that are no WebSocket frame, then the end of the connection.</summary>
    Garbage,
}

/// <summary>
/// A backend whose WebSocket answers each request with a <c>start</c> event and then nothing, until the client's
/// close comes: instead of replying to it, it breaks its side
/// of the connection (<see cref="BackendBreak"/>), as a backend that dies or goes wrong as the client leaves does.
/// The handshake is its own, so that the upgraded connection's bytes are its to corrupt.
/// </summary>
public static class BreakingWebSocketBackend
{
    private static readonly byte[] NoFrame = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

    public static Task<InProcessBackend> StartAsync(BackendBreak onClose) =>
        InProcessBackend.StartAsync(app => app.MapGet("/ws", (HttpContext context) => ServeAsync(context, onClose)));

    private static async Task ServeAsync(HttpContext context, BackendBreak onClose)
    {
        var key = context.Request.Headers.SecWebSocketKey.ToString();
        context.Response.Headers.Connection = "Upgrade";
        context.Response.Headers.Upgrade = "websocket";
#pragma warning disable CA5350 // RFC 6455 fixes SHA-1 for the accept key; it protects nothing.
        context.Response.Headers.SecWebSocketAccept = Convert.ToBase64String(
            SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
        var connection = await context.Features.GetRequiredFeature<IHttpUpgradeFeature>().UpgradeAsync();
        using var socket = WebSocket.CreateFromStream(connection, new WebSocketCreationOptions { IsServer = true });
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var received = await socket.ReceiveAsync(buffer, context.RequestAborted);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                break;
            }

            if (received.EndOfMessage)
            {
                var start = JsonSerializer.SerializeToUtf8Bytes(new StreamEvent { Type = StreamEvent.Start }, ContractsJsonContext.Wire.StreamEvent);
                await socket.SendAsync(start, WebSocketMessageType.Text, true, context.RequestAborted);
            }
        }

        if (onClose == BackendBreak.Garbage)
        {
            await connection.WriteAsync(NoFrame, context.RequestAborted);
            await connection.FlushAsync(context.RequestAborted);
            return;
        }

        context.Abort();
    }
}
