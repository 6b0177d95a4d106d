using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Mesh.Tests.Reliability;

/// <summary>
/// HTTP/1.1 over a bare socket, for requests no HttpClient would send: unnormalized paths, oversized request lines and
/// headers, headers trickled byte by byte, hand-made WebSocket handshakes and frames, a half-closed connection, an
/// HTTP/2 preface.
/// </summary>
public sealed class RawHttp : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;

    private RawHttp(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
    }

    public static async Task<RawHttp> ConnectAsync(Uri server)
    {
        var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync(server.Host, server.Port);
        return new RawHttp(client);
    }

    /// <summary>Sends one request (head and optional body) and reads the response.</summary>
    public static async Task<RawResponse> SendAsync(Uri server, string head, byte[]? body = null)
    {
        await using var connection = await ConnectAsync(server);
        await connection.WriteAsync(head);
        if (body is not null)
        {
            await connection.WriteAsync(body);
        }

        return await connection.ReadResponseAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>A WebSocket handshake for <paramref name="path"/> carrying one more header.</summary>
    public static string WebSocketUpgrade(string path, string header, string value) =>
        WebSocketHandshake(path, "13", Convert.ToBase64String(Guid.NewGuid().ToByteArray()), $"{header}: {value}\r\n");

    /// <summary>A WebSocket handshake for <paramref name="path"/> with this <c>Sec-WebSocket-Version</c> and <c>Sec-WebSocket-Key</c>.</summary>
    public static string WebSocketHandshake(string path, string version, string key, string moreHeaders = "") =>
        $"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: {version}\r\n" +
        $"Sec-WebSocket-Key: {key}\r\n{moreHeaders}\r\n";

    /// <summary>One masked text frame holding the whole message, as a client sends it (RFC 6455 §5.2).</summary>
    public static byte[] WebSocketTextFrame(string text) => WebSocketFrame(0x1, Encoding.UTF8.GetBytes(text));

    /// <summary>A masked close frame with <paramref name="status"/> and no reason.</summary>
    public static byte[] WebSocketCloseFrame(ushort status)
    {
        var payload = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(payload, status);
        return WebSocketFrame(0x8, payload);
    }

    /// <summary>One masked, final frame of <paramref name="opcode"/> holding <paramref name="payload"/>, which need not be UTF-8.</summary>
    public static byte[] WebSocketFrame(byte opcode, byte[] payload)
    {
        using var frame = new MemoryStream();
        frame.WriteByte((byte)(0x80 | opcode)); // FIN
        if (payload.Length < 126)
        {
            frame.WriteByte((byte)(0x80 | payload.Length));
        }
        else if (payload.Length <= ushort.MaxValue)
        {
            frame.WriteByte(0x80 | 126);
            frame.WriteByte((byte)(payload.Length >> 8));
            frame.WriteByte((byte)payload.Length);
        }
        else
        {
            frame.WriteByte(0x80 | 127);
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(length, (ulong)payload.Length);
            frame.Write(length);
        }

        var mask = RandomNumberGenerator.GetBytes(4);
        frame.Write(mask);
        for (var i = 0; i < payload.Length; i++)
        {
            frame.WriteByte((byte)(payload[i] ^ mask[i % 4]));
        }

        return frame.ToArray();
    }

    /// <summary>Writes each character as one byte (Latin-1), so that a test can send bytes that are not UTF-8.</summary>
    public Task WriteAsync(string text) => WriteAsync(Encoding.Latin1.GetBytes(text));

    public async Task WriteAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes, for an answer that is not HTTP/1.1.</summary>
    public async Task<byte[]> ReadExactlyAsync(int count, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var bytes = new byte[count];
        await _stream.ReadExactlyAsync(bytes, cancel.Token);
        return bytes;
    }

    /// <summary>Reads status line, headers and a body delimited by Content-Length, chunking or the connection's end.</summary>
    public async Task<RawResponse> ReadResponseAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int headEnd;
        while ((headEnd = IndexOf(buffer, "\r\n\r\n"u8)) < 0)
        {
            var read = await _stream.ReadAsync(chunk, cancel.Token);
            if (read == 0)
            {
                throw new IOException("The server closed the connection before a complete response head.");
            }

            buffer.Write(chunk, 0, read);
        }

        var all = buffer.ToArray();
        var lines = Encoding.ASCII.GetString(all, 0, headEnd).Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = lines.Skip(1)
            .Select(line => line.Split(':', 2))
            .GroupBy(parts => parts[0].Trim(), StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.Last()[1].Trim(), StringComparer.OrdinalIgnoreCase);
        var body = new MemoryStream();
        body.Write(all, headEnd + 4, all.Length - headEnd - 4);

        if (status == 101)
        {
            return new RawResponse(status, headers, []);
        }

        if (headers.TryGetValue("Content-Length", out var length))
        {
            var expected = long.Parse(length, System.Globalization.CultureInfo.InvariantCulture);
            while (body.Length < expected && await _stream.ReadAsync(chunk, cancel.Token) is var read and > 0)
            {
                body.Write(chunk, 0, read);
            }

            return new RawResponse(status, headers, body.ToArray());
        }

        if (headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            while (IndexOf(body, "0\r\n\r\n"u8) < 0 && await _stream.ReadAsync(chunk, cancel.Token) is var read and > 0)
            {
                body.Write(chunk, 0, read);
            }

            return new RawResponse(status, headers, Dechunk(body.ToArray()));
        }

        return new RawResponse(status, headers, body.ToArray());
    }

    /// <summary>True when the server has closed the connection (a read returns end of stream or fails) within <paramref name="timeout"/>.</summary>
    public async Task<bool> IsClosedByServerAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var chunk = new byte[4096];
        try
        {
            while (await _stream.ReadAsync(chunk, cancel.Token) > 0)
            {
                // A response (such as 408) may come first; the close is what counts.
            }

            return true;
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// Reads on until the server ends the connection: true for an orderly end (a FIN: the read returns end of stream),
    /// false for a reset. Not ended within <paramref name="timeout"/> fails with an <see cref="OperationCanceledException"/>.
    /// </summary>
    public async Task<bool> EndsInOrderAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var chunk = new byte[16 * 1024];
        try
        {
            while (await _stream.ReadAsync(chunk, cancel.Token) > 0)
            {
                // Whatever the server still sends before its end.
            }

            return true;
        }
        catch (IOException ex) when (ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
        {
            return false;
        }
    }

    /// <summary>Ends the sending half only (a FIN), as a client that has no more to say, or whose sending side broke, does.</summary>
    public void ShutdownSend() => _client.Client.Shutdown(SocketShutdown.Send);

    /// <summary>
    /// Drops the connection with a TCP reset, as a client that crashes or loses its network does (closing the stream would
    /// shut the socket down first, sending an orderly end instead).
    /// </summary>
    public void Reset() => _client.Client.Close(timeout: 0);

    public ValueTask DisposeAsync()
    {
        _stream.Dispose();
        _client.Dispose();
        return ValueTask.CompletedTask;
    }

    private static byte[] Dechunk(byte[] chunked)
    {
        var output = new MemoryStream();
        var position = 0;
        while (position < chunked.Length)
        {
            var lineEnd = Array.IndexOf(chunked, (byte)'\r', position);
            var size = Convert.ToInt32(Encoding.ASCII.GetString(chunked, position, lineEnd - position).Split(';')[0], 16);
            if (size == 0)
            {
                break;
            }

            output.Write(chunked, lineEnd + 2, size);
            position = lineEnd + 2 + size + 2;
        }

        return output.ToArray();
    }

    private static int IndexOf(MemoryStream stream, ReadOnlySpan<byte> value) =>
        stream.GetBuffer().AsSpan(0, (int)stream.Length).IndexOf(value);
}

public sealed record RawResponse(int Status, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string Text => Encoding.UTF8.GetString(Body);
}
