using System.Net.WebSockets;
using System.Text.Json;

namespace Mesh.Tests.Integration;

/// <summary>Reads whole WebSocket messages in tests: one message however many frames it came in, within a deadline.</summary>
internal static class WebSocketMessages
{
    public static async Task<(WebSocketMessageType Type, byte[] Payload)> ReceiveAsync(ClientWebSocket socket, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        using var message = new MemoryStream();
        var buffer = new byte[16 * 1024];
        WebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer, deadline.Token);
            message.Write(buffer, 0, result.Count);
        }
        while (!result.EndOfMessage);

        return (result.MessageType, message.ToArray());
    }

    /// <summary>The next message, which must be a JSON text event.</summary>
    public static async Task<JsonElement> ReceiveEventAsync(ClientWebSocket socket, TimeSpan timeout)
    {
        var (type, payload) = await ReceiveAsync(socket, timeout);
        Assert.Equal(WebSocketMessageType.Text, type);
        using var document = JsonDocument.Parse(payload);
        return document.RootElement.Clone();
    }
}
