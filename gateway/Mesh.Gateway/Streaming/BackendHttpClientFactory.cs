using System.Net;
using System.Net.Sockets;
using Mesh.Contracts;
using Mesh.Gateway.Health;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Transforms;

namespace Mesh.Gateway.Streaming;

/// <summary>
/// YARP's client to the backends. A request's small body of known length goes out in the same write as its headers:
/// YARP flushes the headers before it copies a body, so each request reached the backend in two segments, and under
/// load the backend's second wake-up, for the body, was a wait for a thread.
/// <para>
/// HTTP/1.1 response bodies are read in large pieces. Before every read YARP's copier makes a zero-byte read, so that
/// an idle stream holds no buffer; on a chunked HTTP/1.1 body that read makes the client refill its 4 KiB connection
/// buffer, so every body crossed the gateway 4 KiB at a time: a sentence event of the
/// sentences surface (hundreds of KiB of base64 audio) took a hundred reads, a hundred writes and as many wake-ups of the
/// client. Without it, while at least 4 KiB of a chunk are left, the client reads straight into the copier's 64 KiB
/// buffer. A TTS stream is busy from its first byte to its last, so the buffer it holds while waiting is not the waste the
/// zero-byte read avoids.
/// </para>
/// <para>
/// A forwarded request is a <see cref="BackendExchange"/> with its backend, from its sending to the end of its body;
/// each read of the body is progress. When the exchange is ended (its backend stopped answering), a request still
/// waiting for its response fails as a refused one would (an <see cref="HttpRequestException"/>, which the gateway
/// fails over), and a response body under way fails as a broken one would (an <see cref="IOException"/>, which the
/// gateway marks as a failed stream).
/// </para>
/// <para>
/// Each connection's receive buffer is capped (<see cref="GatewayStreamBufferOptions.BackendReceiveBufferBytes"/>), so
/// that a client that stops reading stops its backend's synthesis after little more than that much audio.
/// </para>
/// </summary>
public sealed class BackendHttpClientFactory(ILogger<ForwarderHttpClientFactory> logger, IOptions<GatewayStreamBufferOptions> buffers)
    : ForwarderHttpClientFactory(logger)
{
    private const string Unresponsive = "The backend stopped answering its health probes.";
    private static readonly HttpRequestOptionsKey<UnresponsiveBackends.BackendWatch> Watch = new("Mesh.BackendWatch");

    /// <summary>A request transform: gives the forwarded request the watch of the backend it goes to.</summary>
    public static ValueTask WatchBackendAsync(RequestTransformContext transform, UnresponsiveBackends unresponsive)
    {
        if (transform.HttpContext.GetReverseProxyFeature().ProxiedDestination is { } destination)
        {
            transform.ProxyRequest.Options.Set(Watch, unresponsive.Of(destination));
        }

        return ValueTask.CompletedTask;
    }

    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        // Read at connect time: the proxy builds its clients before the settings are validated at start.
        handler.ConnectCallback = (connection, cancellationToken) =>
            ConnectAsync(connection.DnsEndPoint, buffers.Value.BackendReceiveBufferBytes, cancellationToken);
    }

    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler) =>
        new BackendExchangeHandler(base.WrapHandler(context, handler));

    private sealed class BackendExchangeHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Content is { Headers.ContentLength: > 0 and <= SpeechRequestParser.MaxBodyBytes } content)
            {
                request.Content = await InMemoryAsync(content, cancellationToken);
            }

            var exchange = request.Options.TryGetValue(Watch, out var watch) ? watch.Begin() : null;
            try
            {
                var response = await SendUnlessEndedAsync(request, exchange, cancellationToken);
                // Only HTTP/1.x bodies refill a 4 KiB buffer; an upgraded connection's content is a two-way stream of its own.
                if (response.Version.Major == 1 && response.StatusCode != HttpStatusCode.SwitchingProtocols)
                {
                    response.Content = new LargeReadsContent(response.Content, exchange);
                    exchange = null;
                }

                return response;
            }
            finally
            {
                exchange?.Dispose();
            }
        }

        private async Task<HttpResponseMessage> SendUnlessEndedAsync(HttpRequestMessage request, BackendExchange? exchange, CancellationToken cancellationToken)
        {
            var ended = exchange?.Ended ?? CancellationToken.None;
            using var sending = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, ended);
            try
            {
                var response = await base.SendAsync(request, sending.Token);
                exchange?.Progressed();
                return response;
            }
            catch (OperationCanceledException ex) when (ended.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new HttpRequestException(Unresponsive, ex);
            }
        }
    }

    /// <summary>As SocketsHttpHandler connects by default, but with the receive buffer set before the connection opens.</summary>
    public static async ValueTask<Stream> ConnectAsync(DnsEndPoint endpoint, int receiveBufferBytes, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = receiveBufferBytes, NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The body as one array, which the client writes together with the headers; the content headers unchanged.</summary>
    private static async Task<HttpContent> InMemoryAsync(HttpContent content, CancellationToken cancellationToken)
    {
        var inMemory = new ByteArrayContent(await content.ReadAsByteArrayAsync(cancellationToken));
        CopyHeadersRaw(content, inMemory);
        return inMemory;
    }

    /// <summary>Content headers as they came: a parsed copy would rewrite values such as <c>audio/pcm;rate=24000</c>.</summary>
    private static void CopyHeadersRaw(HttpContent from, HttpContent to)
    {
        foreach (var (name, values) in from.Headers.NonValidated)
        {
            to.Headers.TryAddWithoutValidation(name, values);
        }
    }

    private sealed class LargeReadsContent : HttpContent
    {
        private readonly HttpContent _inner;
        private readonly BackendExchange? _exchange;

        /// <param name="exchange">Watched while the body is read; its read stream ends it when disposed (YARP disposes that
        /// stream, and the response only on some paths), or the content, whichever comes first.</param>
        public LargeReadsContent(HttpContent inner, BackendExchange? exchange)
        {
            _inner = inner;
            _exchange = exchange;
            CopyHeadersRaw(inner, this);
        }

        protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) =>
            new NoZeroByteReads(await _inner.ReadAsStreamAsync(cancellationToken), _exchange);

        protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

        protected override Stream CreateContentReadStream(CancellationToken cancellationToken) =>
            new NoZeroByteReads(_inner.ReadAsStream(cancellationToken), _exchange);

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
            _inner.CopyToAsync(stream, context, cancellationToken);

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            _inner.CopyToAsync(stream, context);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _inner.Dispose();
                _exchange?.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>
    /// Answers a zero-byte read at once (the <see cref="Stream"/> contract allows it); other reads pass through, each
    /// one that returns bytes a sign of the <paramref name="exchange"/>'s progress. When the exchange is ended a pending
    /// read is cancelled, and fails as a broken body. Cancelled, not disposed under it: disposing an unfinished chunked
    /// body makes the client drain the connection for up to 2 s, reading it alongside the pending read.
    /// </summary>
    private sealed class NoZeroByteReads(Stream inner, BackendExchange? exchange) : Stream
    {
        // YARP passes the same token to every read of a body, so one linked source serves them all.
        private CancellationTokenSource? _linked;
        private CancellationToken _linkedFor;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            !buffer.IsEmpty ? ReadUnlessEndedAsync(buffer, cancellationToken)
            : cancellationToken.IsCancellationRequested ? ValueTask.FromCanceled<int>(cancellationToken)
            : ValueTask.FromResult(0);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(Span<byte> buffer) => buffer.IsEmpty ? 0 : Progress(inner.Read(buffer));

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _linked?.Dispose();
                inner.Dispose();
                exchange?.Dispose();
            }

            base.Dispose(disposing);
        }

        private async ValueTask<int> ReadUnlessEndedAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            try
            {
                return Progress(await inner.ReadAsync(buffer, ReadToken(cancellationToken)));
            }
            catch (Exception ex) when (exchange is { Ended.IsCancellationRequested: true } && !cancellationToken.IsCancellationRequested)
            {
                throw new IOException(Unresponsive, ex);
            }
        }

        private CancellationToken ReadToken(CancellationToken cancellationToken)
        {
            if (exchange is null)
            {
                return cancellationToken;
            }

            if (_linked is null || _linkedFor != cancellationToken)
            {
                _linked?.Dispose();
                _linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, exchange.Ended);
                _linkedFor = cancellationToken;
            }

            return _linked.Token;
        }

        private int Progress(int read)
        {
            if (read > 0)
            {
                exchange?.Progressed();
            }

            return read;
        }
    }
}
