using System.Buffers;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text.Json;
using Mesh.Backend.Pipeline;
using Mesh.Backend.Pipeline.Audio;
using Mesh.Contracts;
using Mesh.Contracts.Http;

namespace Mesh.Backend.Host;

/// <summary>
/// <c>/ws</c> and <c>/v1/audio/speech/ws</c>: JSON requests in, one after another; per request a <c>start</c> event,
/// per sentence a <c>sentence</c> event followed by binary PCM frames, then <c>done</c>. A bad message gets an
/// <c>error</c> event and the connection stays usable; an oversized one closes it (1009); a failure inside a
/// stream is an <c>error</c> event too, and a broken connection is closed with 1011.
/// </summary>
public static partial class WebSocketEndpoints
{
    /// <summary>Largest request message accepted (the same as an HTTP body).</summary>
    public const int MaxMessageBytes = SpeechRequestParser.MaxBodyBytes;

    public static IEndpointRouteBuilder MapWebSocketEndpoints(this IEndpointRouteBuilder app)
    {
        app.Map("/ws", AcceptAsync);
        app.Map("/v1/audio/speech/ws", AcceptAsync);
        return app;
    }

    private static async Task<IResult> AcceptAsync(HttpContext context, SpeechServices services, ILogger<SpeechServices> logger)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            return ApiResults.Error(ApiError.InvalidRequest("This endpoint speaks WebSocket; send an upgrade request.", null, "websocket_required"));
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        try
        {
            await ServeAsync(socket, context, services);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
            // The client went away; its work was cancelled with the request token.
        }
        catch (Exception ex)
        {
            LogConnectionFailed(logger, ex);
            if (socket.State == WebSocketState.Open)
            {
                await socket.CloseAsync(WebSocketCloseStatus.InternalServerError, "internal error", CancellationToken.None);
            }
        }

        return Results.Empty;
    }

    private static async Task ServeAsync(WebSocket socket, HttpContext context, SpeechServices services)
    {
        var cancellationToken = context.RequestAborted;
        var stopping = context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        var connection = new ConnectionState();
        // On shutdown an idle connection is told to go away at once; a busy one after its current request.
        using var onStopping = stopping.Register(() =>
        {
            if (!connection.Busy)
            {
                _ = CloseForShutdownAsync(socket);
            }
        });
        var buffer = new ArrayBufferWriter<byte>(4096);
        while (socket.State == WebSocketState.Open)
        {
            buffer.ResetWrittenCount();
            var message = await ReceiveAsync(socket, buffer, cancellationToken);
            switch (message)
            {
                case WebSocketMessageType.Close:
                    if (socket.State == WebSocketState.CloseReceived)
                    {
                        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, cancellationToken);
                    }

                    return;
                case null:
                    await socket.CloseAsync(WebSocketCloseStatus.MessageTooBig, $"messages are limited to {MaxMessageBytes} bytes", cancellationToken);
                    return;
                case WebSocketMessageType.Binary:
                    await SendErrorAsync(socket, ApiError.InvalidRequest("Send requests as JSON text messages, not binary.", null, "invalid_message"), cancellationToken);
                    continue;
            }

            connection.Busy = true;
            await SpeakAsync(socket, buffer.WrittenMemory, context, services, cancellationToken);
            connection.Busy = false;
            if (stopping.IsCancellationRequested)
            {
                await CloseForShutdownAsync(socket);
            }
        }
    }

    private static async Task CloseForShutdownAsync(WebSocket socket)
    {
        try
        {
            await socket.CloseOutputAsync(WebSocketCloseStatus.EndpointUnavailable, "server shutting down", CancellationToken.None);
        }
        catch (Exception ex) when (ex is WebSocketException or InvalidOperationException or ObjectDisposedException)
        {
            // Already closing or gone.
        }
    }

    private static async Task SpeakAsync(
        WebSocket socket, ReadOnlyMemory<byte> message, HttpContext context, SpeechServices services, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        var parsed = SpeechRequestParser.Parse(message.Span);
        var preparation = parsed.Error is { } parseError
            ? new Preparation(null, parseError)
            : await services.Preparation.PrepareAsync(parsed.Request!, SurfaceDefaults.Pcm, null, cancellationToken);
        if (preparation.Error is { } error)
        {
            services.Count(error, parsed.Request?.Priority ?? PriorityClasses.Realtime);
            await SendErrorAsync(socket, error, cancellationToken);
            return;
        }

        using var speech = preparation.Speech!;
        var job = speech.Job;
        var labels = services.Labels(job.Model.Id, job.Priority);
        var clock = new StreamClock(start, job.OutputSampleRate, labels);
        var requestId = RequestIds.New();
        var sentences = 0;
        await SendEventAsync(socket, new StreamEvent { Type = StreamEvent.Start, RequestId = requestId, SampleRate = job.OutputSampleRate }, cancellationToken);
        BackendMetrics.Requests.WithLabels([.. labels, "200"]).Inc();
        try
        {
            await foreach (var pipelineEvent in services.Pipeline.RunAsync(job, cancellationToken))
            {
                switch (pipelineEvent)
                {
                    case SentenceStarted sentence:
                        sentences++;
                        await SendEventAsync(socket, new StreamEvent { Type = StreamEvent.Sentence, RequestId = requestId, Index = sentence.SentenceIndex, Text = sentence.Text }, cancellationToken);
                        break;
                    case AudioProduced audio:
                        clock.OnAudio(audio.Samples.Length);
                        await socket.SendAsync(PcmEncoder.ToBytes(audio.Samples), WebSocketMessageType.Binary, true, cancellationToken);
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            BackendMetrics.Cancellations.WithLabels(labels).Inc();
            throw;
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not WebSocketException)
        {
            await SendErrorAsync(socket, ApiError.Internal("Synthesis failed."), cancellationToken);
            return;
        }

        clock.OnComplete();
        await SendEventAsync(
            socket,
            new StreamEvent { Type = StreamEvent.Done, RequestId = requestId, Sentences = sentences, AudioSeconds = clock.AudioSeconds, SampleRate = job.OutputSampleRate },
            cancellationToken);
    }

    /// <summary>Reads one whole message; null when it exceeds <see cref="MaxMessageBytes"/>.</summary>
    private static async Task<WebSocketMessageType?> ReceiveAsync(WebSocket socket, ArrayBufferWriter<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.GetMemory(4096), cancellationToken);
            buffer.Advance(result.Count);
            if (buffer.WrittenCount > MaxMessageBytes)
            {
                return null;
            }

            if (result.EndOfMessage || result.MessageType == WebSocketMessageType.Close)
            {
                return result.MessageType;
            }
        }
    }

    private static Task SendErrorAsync(WebSocket socket, ApiError error, CancellationToken cancellationToken) =>
        SendEventAsync(socket, new StreamEvent { Type = StreamEvent.Failure, Error = error.ToEnvelope().Error }, cancellationToken);

    private static async Task SendEventAsync(WebSocket socket, StreamEvent streamEvent, CancellationToken cancellationToken) =>
        await socket.SendAsync(
            JsonSerializer.SerializeToUtf8Bytes(streamEvent, ContractsJsonContext.Default.StreamEvent), WebSocketMessageType.Text, true, cancellationToken);

    private sealed class ConnectionState
    {
        public volatile bool Busy;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "WebSocket connection failed")]
    private static partial void LogConnectionFailed(ILogger logger, Exception exception);
}
