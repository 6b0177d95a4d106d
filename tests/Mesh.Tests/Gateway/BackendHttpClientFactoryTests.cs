using System.Net;
using System.Net.Sockets;
using System.Text;
using Mesh.Gateway;
using Mesh.Gateway.Streaming;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
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

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public async Task A_small_body_of_known_length_goes_out_with_the_headers_and_one_of_unknown_length_streams(bool lengthKnown, bool inFirstRead)
    {
        await using var backend = RawBackend.Start(socket => socket.SendAsync("HTTP/1.1 204 No Content\r\n\r\n"u8.ToArray()));
        using var client = CreateClient();
        var json = """{"input":"Hi."}"""u8.ToArray();
        var request = new HttpRequestMessage(HttpMethod.Post, backend.Address) { Content = new HeadersFirstContent(json, lengthKnown) };

        using var response = await client.SendAsync(request, CancellationToken.None);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(inFirstRead, backend.FirstRead.EndsWith("""{"input":"Hi."}""", StringComparison.Ordinal));
        Assert.Contains(lengthKnown ? "Content-Length: 15" : "Transfer-Encoding: chunked", backend.FirstRead, StringComparison.Ordinal);
        Assert.Contains("Content-Type: application/json", backend.FirstRead, StringComparison.Ordinal);
    }

    private static HttpMessageInvoker CreateClient() =>
        new BackendHttpClientFactory(NullLogger<ForwarderHttpClientFactory>.Instance, Options.Create(new GatewayStreamBufferOptions()))
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

    /// <summary>A body that, as YARP's request content does, flushes the headers before it writes, a moment later.</summary>
    private sealed class HeadersFirstContent : HttpContent
    {
        private readonly byte[] _body;

        public HeadersFirstContent(byte[] body, bool lengthKnown)
        {
            _body = body;
            Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            Headers.ContentLength = lengthKnown ? body.Length : null;
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.FlushAsync();
            await Task.Delay(TimeSpan.FromMilliseconds(100));
            await stream.WriteAsync(_body);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
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

        /// <summary>What the first read of the request returned.</summary>
        public string FirstRead { get; private set; } = "";

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
                FirstRead = FirstRead.Length == 0 ? headers.ToString() : FirstRead;
            }

            await answer(socket);
            _answered.SetResult();
            socket.Shutdown(SocketShutdown.Both);
        }
    }
}
