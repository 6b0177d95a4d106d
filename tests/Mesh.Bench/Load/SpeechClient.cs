using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text.Json;
using Mesh.Contracts;

namespace Mesh.Bench.Load;

/// <summary>
/// Sends one speech request on one surface and times its audio as it arrives. Every failure (an error status, a
/// broken stream, an error event, no answer in time) comes back as a <see cref="Measurement"/> with its reason.
/// </summary>
public sealed class SpeechClient : IDisposable
{
    private const int BufferBytes = 64 * 1024;
    private const int WavHeaderBytes = 44;
    private const int FallbackSampleRate = 24_000;

    /// <summary>How far ahead of playback a paced listener reads: a typical player buffer.</summary>
    private const double ListenerBufferSeconds = 2.0;
    private readonly HttpClient _http;
    private readonly RequestDefaults _defaults;

    public SpeechClient(RequestDefaults defaults)
    {
        _defaults = defaults;
        _http = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            MaxConnectionsPerServer = int.MaxValue,
            ConnectTimeout = TimeSpan.FromSeconds(10),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
            DefaultRequestHeaders = { Authorization = defaults.Authorization },
        };
    }

    public async Task<Measurement> RunAsync(Target target, BenchRequest request, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_defaults.Timeout);
        var start = Stopwatch.GetTimestamp();
        try
        {
            return request.Kind == RequestKind.WebSocket
                ? await RunWebSocketAsync(target, request, deadline.Token)
                : await RunHttpAsync(target, request, deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Failed(start, 0, $"no complete answer within {_defaults.Timeout.TotalSeconds:0} s");
        }
        catch (HttpRequestException ex)
        {
            return Failed(start, (int?)ex.StatusCode ?? 0, $"HTTP request failed: {ex.Message}");
        }
        catch (WebSocketException ex)
        {
            return Failed(start, 0, $"WebSocket failed: {ex.Message}");
        }
        catch (IOException ex)
        {
            return Failed(start, 200, $"the stream broke: {ex.Message}");
        }
    }

    public void Dispose() => _http.Dispose();

    private static Measurement Failed(long start, int status, string error) =>
        new ChunkTimeline(start, simulatePlayback: false).Fail(Stopwatch.GetTimestamp(), status, error);

    private async Task<Measurement> RunHttpAsync(Target target, BenchRequest request, CancellationToken cancellationToken)
    {
        var (path, responseFormat, streamFormat) = request.Kind switch
        {
            RequestKind.Sse => ("v1/audio/speech", "pcm", "sse"),
            RequestKind.Sentences => ("v1/audio/speech/stream", null, null),
            RequestKind.Pcm => ("v1/audio/speech/stream/pcm", null, null),
            RequestKind.Whole => ("v1/audio/speech", "wav", null),
            _ => throw new ArgumentOutOfRangeException(nameof(request)),
        };
        using var message = new HttpRequestMessage(HttpMethod.Post, new Uri(target.BaseUrl, path))
        {
            Content = new ByteArrayContent(RequestJson(request.Text, responseFormat, streamFormat)),
        };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        if (target.Variant is { } variant)
        {
            message.Headers.TryAddWithoutValidation(MeshHeaders.Variant, variant);
        }

        var start = Stopwatch.GetTimestamp();
        var played = RequestKinds.IsPlayedAsStreamed(request.Kind);
        var timeline = new ChunkTimeline(start, played, request.Paced && played);
        using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            var reason = await ErrorReasonAsync(response, cancellationToken);
            return timeline.Fail(Stopwatch.GetTimestamp(), (int)response.StatusCode, reason);
        }

        var rate = HeaderRate(response);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        return request.Kind is RequestKind.Sse or RequestKind.Sentences
            ? await ReadEventsAsync(body, timeline, rate ?? FallbackSampleRate, request, cancellationToken)
            : await ReadAudioAsync(body, timeline, rate, request.Kind == RequestKind.Whole, request, cancellationToken);
    }

    private static async Task<Measurement> ReadAudioAsync(
        Stream body, ChunkTimeline timeline, int? headerRate, bool wav, BenchRequest request, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferBytes);
        try
        {
            var rate = headerRate ?? FallbackSampleRate;
            var headerLeft = wav ? WavHeaderBytes : 0;
            int read;
            while ((read = await body.ReadAsync(buffer.AsMemory(0, BufferBytes), cancellationToken)) > 0)
            {
                var now = Stopwatch.GetTimestamp();
                var audioBytes = read;
                if (headerLeft > 0)
                {
                    // The WAV header states the rate even where a deployment sends no X-PCM-Sample-Rate.
                    if (headerLeft == WavHeaderBytes && read >= 28 && headerRate is null)
                    {
                        rate = BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(24, 4));
                    }

                    var header = Math.Min(headerLeft, read);
                    headerLeft -= header;
                    audioBytes -= header;
                }

                timeline.OnAudio(now, audioBytes / 2.0 / rate);
                if (request.FirstAudioOnly && timeline.FirstAudioMs is not null)
                {
                    return timeline.Complete(now, partial: true);
                }

                await ListenAsync(timeline, request, cancellationToken);
            }

            return timeline.Complete(Stopwatch.GetTimestamp());
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task<Measurement> ReadEventsAsync(
        Stream body, ChunkTimeline timeline, int rate, BenchRequest request, CancellationToken cancellationToken)
    {
        var reader = new SseEventReader(body);
        while (await reader.ReadAsync(cancellationToken) is { } sseEvent)
        {
            var fields = StreamEventFields.Parse(sseEvent.Data.Span);
            switch (fields.Type)
            {
                case "speech.audio.delta":
                case StreamEvent.Sentence:
                    timeline.OnAudio(sseEvent.Timestamp, fields.AudioBytes / 2.0 / (fields.SampleRate ?? rate));
                    if (request.FirstAudioOnly && timeline.FirstAudioMs is not null)
                    {
                        return timeline.Complete(sseEvent.Timestamp, partial: true);
                    }

                    await ListenAsync(timeline, request, cancellationToken);
                    break;
                case "speech.audio.done":
                case StreamEvent.Done:
                    return timeline.Complete(sseEvent.Timestamp);
                case StreamEvent.Failure:
                    return timeline.Fail(sseEvent.Timestamp, 200, $"error event: {fields.ErrorMessage}");
            }
        }

        return timeline.Fail(Stopwatch.GetTimestamp(), 200, "the event stream ended without a done event");
    }

    private async Task<Measurement> RunWebSocketAsync(Target target, BenchRequest request, CancellationToken cancellationToken)
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (_defaults.Authorization is { } authorization)
        {
            socket.Options.SetRequestHeader("Authorization", authorization.ToString());
        }

        if (target.Variant is { } variant)
        {
            socket.Options.SetRequestHeader(MeshHeaders.Variant, variant);
        }

        var uri = new UriBuilder(new Uri(target.BaseUrl, "ws")) { Scheme = target.BaseUrl.Scheme == "https" ? "wss" : "ws" }.Uri;
        try
        {
            await socket.ConnectAsync(uri, cancellationToken);
        }
        catch (WebSocketException ex)
        {
            var status = (int)socket.HttpStatusCode;
            return Failed(Stopwatch.GetTimestamp(), status, status > 0 ? $"WebSocket upgrade refused with HTTP {status}" : $"WebSocket connect failed: {ex.Message}");
        }

        // Timed from the request message, as a client holding a connection sees it; the upgrade is not part of TTFA.
        var start = Stopwatch.GetTimestamp();
        var timeline = new ChunkTimeline(start, simulatePlayback: true, request.Paced);
        await socket.SendAsync(RequestJson(request.Text, null, null), WebSocketMessageType.Text, true, cancellationToken);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferBytes);
        var text = new ArrayBufferWriter<byte>();
        var rate = FallbackSampleRate;
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer.AsMemory(0, BufferBytes), cancellationToken);
                var now = Stopwatch.GetTimestamp();
                switch (result.MessageType)
                {
                    case WebSocketMessageType.Close:
                        return timeline.Fail(now, 200, $"closed ({socket.CloseStatus} {socket.CloseStatusDescription}) before done");
                    case WebSocketMessageType.Binary:
                        timeline.OnAudio(now, result.Count / 2.0 / rate);
                        if (request.FirstAudioOnly && timeline.FirstAudioMs is not null)
                        {
                            return timeline.Complete(now, partial: true);
                        }

                        await ListenAsync(timeline, request, cancellationToken);
                        continue;
                }

                text.Write(buffer.AsSpan(0, result.Count));
                if (!result.EndOfMessage)
                {
                    continue;
                }

                var fields = StreamEventFields.Parse(text.WrittenSpan);
                text.ResetWrittenCount();
                switch (fields.Type)
                {
                    case StreamEvent.Start:
                        rate = fields.SampleRate ?? rate;
                        break;
                    case StreamEvent.Done:
                        return timeline.Complete(now);
                    case StreamEvent.Failure:
                        return timeline.Fail(now, 200, $"error event: {fields.ErrorMessage}");
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            await CloseQuietlyAsync(socket);
        }
    }

    /// <summary>For a paced request, waits until the simulated player has no more than its buffer left.</summary>
    private static async ValueTask ListenAsync(ChunkTimeline timeline, BenchRequest request, CancellationToken cancellationToken)
    {
        if (request.Paced && timeline.ListenerWait(Stopwatch.GetTimestamp(), ListenerBufferSeconds) is { } wait && wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, cancellationToken);
        }
    }

    private static async Task CloseQuietlyAsync(ClientWebSocket socket)
    {
        if (socket.State != WebSocketState.Open)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
            // The measurement is complete; a connection that does not close politely changes nothing.
        }
    }

    private byte[] RequestJson(string text, string? responseFormat, string? streamFormat)
    {
        var output = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartObject();
            writer.WriteString("model", _defaults.Model);
            writer.WriteString("voice", _defaults.Voice);
            writer.WriteString("input", text);
            if (responseFormat is not null)
            {
                writer.WriteString("response_format", responseFormat);
            }

            if (streamFormat is not null)
            {
                writer.WriteString("stream_format", streamFormat);
            }

            writer.WriteEndObject();
        }

        return output.WrittenSpan.ToArray();
    }

    private static int? HeaderRate(HttpResponseMessage response) =>
        response.Headers.TryGetValues(MeshHeaders.PcmSampleRate, out var values) &&
        int.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var rate) && rate > 0
            ? rate
            : null;

    /// <summary>"HTTP 404: message" from an OpenAI error envelope, or the start of whatever the body was.</summary>
    internal static async Task<string> ErrorReasonAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        string? message = null;
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.TryGetProperty("error", out var error) && error.TryGetProperty("message", out var text))
            {
                message = text.GetString();
            }
        }
        catch (JsonException)
        {
        }

        message ??= body.Length > 200 ? body[..200] : body;
        return $"HTTP {(int)response.StatusCode}: {message}";
    }
}
