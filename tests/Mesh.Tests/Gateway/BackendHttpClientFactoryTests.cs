using System.Net;
using System.Net.Sockets;
using System.Text;
using Mesh.Gateway.Streaming;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.Tests.Gateway;

public sealed class BackendHttpClientFactoryTests
{
    private const int ChunkBytes = 200_000;

    [Fact]
    public async Task A_chunked_body_is_read_in_whole_pieces_after_a_zero_byte_read()
    {
        await using var backend = await ChunkedBackend.StartAsync();
        using var client = new BackendHttpClientFactory().CreateClient(new ForwarderHttpClientContext { NewConfig = HttpClientConfig.Empty });
        using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, backend.Address), CancellationToken.None);
        await using var body = await response.Content.ReadAsStreamAsync(CancellationToken.None);
        await backend.AllSent.WaitAsync(TimeSpan.FromSeconds(10));

        // As YARP's copier reads: a zero-byte read, then into a 64 KiB buffer.
        var buffer = new byte[64 * 1024];
        var reads = new List<int>();
        var received = new MemoryStream();
        while (true)
        {
            Assert.Equal(0, await body.ReadAsync(Memory<byte>.Empty, CancellationToken.None));
            var read = await body.ReadAsync(buffer, CancellationToken.None);
            if (read == 0)
            {
                break;
            }

            reads.Add(read);
            received.Write(buffer, 0, read);
        }

        Assert.Equal(ChunkedBackend.Body, received.ToArray());
        Assert.Equal("audio/pcm", response.Content.Headers.ContentType?.MediaType);
        Assert.InRange(reads.Count, 1, 8);
        Assert.Contains(reads, read => read > 16 * 1024);
    }

    /// <summary>One HTTP/1.1 response on a raw socket: a 200 KB body sent as a single chunk.</summary>
    private sealed class ChunkedBackend : IAsyncDisposable
    {
        public static readonly byte[] Body = Enumerable.Range(0, ChunkBytes).Select(i => (byte)(i * 31)).ToArray();

        private readonly TcpListener _listener;
        private readonly TaskCompletionSource _allSent = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Task _serving = Task.CompletedTask;

        private ChunkedBackend(TcpListener listener) => _listener = listener;

        public Uri Address => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

        public Task AllSent => _allSent.Task;

        public static Task<ChunkedBackend> StartAsync()
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var backend = new ChunkedBackend(listener);
            backend._serving = backend.ServeAsync();
            return Task.FromResult(backend);
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            await _serving.WaitAsync(TimeSpan.FromSeconds(10));
        }

        private async Task ServeAsync()
        {
            using var socket = await _listener.AcceptSocketAsync();
            var request = new byte[4096];
            var headers = new StringBuilder();
            while (!headers.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var read = await socket.ReceiveAsync(request);
                headers.Append(Encoding.ASCII.GetString(request, 0, read));
            }

            var head = Encoding.ASCII.GetBytes(
                $"HTTP/1.1 200 OK\r\nContent-Type: audio/pcm\r\nTransfer-Encoding: chunked\r\n\r\n{ChunkBytes:x}\r\n");
            await socket.SendAsync(head);
            await socket.SendAsync(Body);
            await socket.SendAsync("\r\n0\r\n\r\n"u8.ToArray());
            _allSent.SetResult();
            socket.Shutdown(SocketShutdown.Send);
            while (await socket.ReceiveAsync(request) > 0)
            {
            }
        }
    }
}
