using System.Net;
using System.Net.Sockets;
using System.Text;
using Mesh.Gateway.Streaming;
using Microsoft.Extensions.Logging.Abstractions;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.Tests.Gateway;

public sealed class BackendHttpClientFactoryTests
{
    private static readonly byte[] Body = Enumerable.Range(0, 200_000).Select(i => (byte)(i * 31)).ToArray();

    [Fact]
    public async Task A_chunked_body_is_read_in_large_pieces_after_a_zero_byte_read()
    {
        await using var backend = RawBackend.Start(async socket =>
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes(
                $"HTTP/1.1 200 OK\r\nContent-Type: audio/pcm;rate=24000\r\nTransfer-Encoding: chunked\r\n\r\n{Body.Length:x}\r\n"));
            await socket.SendAsync(Body);
            await socket.SendAsync("\r\n0\r\n\r\n"u8.ToArray());
        });
        using var client = CreateClient();
        using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, backend.Address), CancellationToken.None);
        await using var body = await response.Content.ReadAsStreamAsync(CancellationToken.None);
        await backend.Answered.WaitAsync(TimeSpan.FromSeconds(10));

        var (received, reads) = await ReadAsYarpDoesAsync(body);

        Assert.Equal(Body, received);
        Assert.Equal("audio/pcm;rate=24000", response.Content.Headers.NonValidated["Content-Type"].ToString());
        Assert.InRange(reads.Count, 1, 8);
        Assert.Contains(reads, read => read > 16 * 1024);
    }

    [Fact]
    public async Task A_body_with_a_length_keeps_it_and_an_empty_answer_stays_empty()
    {
        await using var backend = RawBackend.Start(async socket =>
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\nContent-Length: {Body.Length}\r\n\r\n"));
            await socket.SendAsync(Body);
        });
        using var client = CreateClient();
        using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, backend.Address), CancellationToken.None);
        await using var body = await response.Content.ReadAsStreamAsync(CancellationToken.None);

        Assert.Equal(Body.Length, response.Content.Headers.ContentLength);
        Assert.Equal(Body, (await ReadAsYarpDoesAsync(body)).Received);

        await using var empty = RawBackend.Start(socket => socket.SendAsync("HTTP/1.1 204 No Content\r\n\r\n"u8.ToArray()));
        using var noContent = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, empty.Address), CancellationToken.None);
        await using var nothing = await noContent.Content.ReadAsStreamAsync(CancellationToken.None);
        Assert.Equal(HttpStatusCode.NoContent, noContent.StatusCode);
        Assert.Empty((await ReadAsYarpDoesAsync(nothing)).Received);
    }

    [Fact]
    public async Task A_body_cut_off_mid_chunk_still_fails_the_read()
    {
        await using var backend = RawBackend.Start(async socket =>
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{Body.Length:x}\r\n"));
            await socket.SendAsync(Body.AsMemory(0, Body.Length / 2));
        });
        using var client = CreateClient();
        using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, backend.Address), CancellationToken.None);
        await using var body = await response.Content.ReadAsStreamAsync(CancellationToken.None);

        await Assert.ThrowsAnyAsync<IOException>(() => ReadAsYarpDoesAsync(body));
    }

    private static HttpMessageInvoker CreateClient() =>
        new BackendHttpClientFactory(NullLogger<ForwarderHttpClientFactory>.Instance)
            .CreateClient(new ForwarderHttpClientContext { NewConfig = HttpClientConfig.Empty });

    /// <summary>As YARP's copier reads: a zero-byte read, then into a 64 KiB buffer, until the end.</summary>
    private static async Task<(byte[] Received, List<int> Reads)> ReadAsYarpDoesAsync(Stream body)
    {
        var buffer = new byte[64 * 1024];
        var reads = new List<int>();
        var received = new MemoryStream();
        while (true)
        {
            Assert.Equal(0, await body.ReadAsync(Memory<byte>.Empty, CancellationToken.None));
            var read = await body.ReadAsync(buffer, CancellationToken.None);
            if (read == 0)
            {
                return (received.ToArray(), reads);
            }

            reads.Add(read);
            received.Write(buffer, 0, read);
        }
    }

    /// <summary>One HTTP/1.1 exchange on a raw socket: reads the request's headers, writes what the test gives, closes.</summary>
    private sealed class RawBackend : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly TaskCompletionSource _answered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Task _serving = Task.CompletedTask;

        private RawBackend(TcpListener listener) => _listener = listener;

        public Uri Address => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

        public Task Answered => _answered.Task;

        public static RawBackend Start(Func<Socket, Task> answer)
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var backend = new RawBackend(listener);
            backend._serving = backend.ServeAsync(answer);
            return backend;
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            await Task.WhenAny(_serving, Task.Delay(TimeSpan.FromSeconds(10)));
        }

        private async Task ServeAsync(Func<Socket, Task> answer)
        {
            using var socket = await _listener.AcceptSocketAsync();
            var request = new byte[4096];
            var headers = new StringBuilder();
            while (!headers.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var read = await socket.ReceiveAsync(request);
                if (read == 0)
                {
                    return;
                }

                headers.Append(Encoding.ASCII.GetString(request, 0, read));
            }

            await answer(socket);
            _answered.SetResult();
            socket.Shutdown(SocketShutdown.Both);
        }
    }
}
