using System.Diagnostics;
using Mesh.Backend.Pipeline;
using Mesh.Contracts;

namespace Mesh.Backend.Host;

/// <summary>
/// Streams a pipeline's bytes as they are produced. Before the first byte a failure is still an error envelope
/// (504 on timeout); after it the connection is aborted, so the client sees a truncated transfer, never a clean end.
/// </summary>
public sealed partial class SpeechAudioResult(
    SpeechPipeline pipeline, SpeechJob job, TimeSpan firstByteTimeout, long startTimestamp, string[] metricLabels) : IResult
{
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var logger = httpContext.RequestServices.GetRequiredService<ILogger<SpeechAudioResult>>();
        using var encoder = pipeline.CreateEncoder(job);
        using var firstByteDeadline = CancellationTokenSource.CreateLinkedTokenSource(httpContext.RequestAborted);
        firstByteDeadline.CancelAfter(firstByteTimeout);

        var response = httpContext.Response;
        long samples = 0;
        try
        {
            await foreach (var chunk in pipeline.RunAsync(job, encoder, firstByteDeadline.Token))
            {
                if (!response.HasStarted)
                {
                    // The deadline covers only the wait for the first audio; a long stream is not cut once it flows.
                    firstByteDeadline.CancelAfter(Timeout.InfiniteTimeSpan);
                    response.StatusCode = StatusCodes.Status200OK;
                    response.ContentType = encoder.ContentType;
                    response.Headers[MeshHeaders.PcmSampleRate] = pipeline.OutputSampleRate.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    BackendMetrics.Requests.WithLabels([.. metricLabels, "200"]).Inc();
                    BackendMetrics.TimeToFirstAudio.WithLabels(metricLabels).Observe(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds);
                }

                await response.Body.WriteAsync(chunk.Bytes, httpContext.RequestAborted);
                await response.Body.FlushAsync(httpContext.RequestAborted);
                samples += chunk.Samples;
            }

            if (!response.HasStarted)
            {
                response.ContentType = encoder.ContentType;
                BackendMetrics.Requests.WithLabels([.. metricLabels, "200"]).Inc();
            }

            BackendMetrics.AudioSeconds.WithLabels(metricLabels).Inc((double)samples / pipeline.OutputSampleRate);
        }
        catch (OperationCanceledException) when (httpContext.RequestAborted.IsCancellationRequested)
        {
            // The client left; nothing to answer.
        }
        catch (OperationCanceledException) when (!response.HasStarted)
        {
            var error = new ApiError(
                StatusCodes.Status504GatewayTimeout,
                $"No audio was produced within {firstByteTimeout.TotalSeconds:0} s.",
                ErrorTypes.Server,
                null,
                "timeout");
            BackendMetrics.Requests.WithLabels([.. metricLabels, "504"]).Inc();
            await ApiResults.WriteErrorAsync(httpContext, error);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogSynthesisFailed(logger, ex);
            if (response.HasStarted)
            {
                httpContext.Abort();
                return;
            }

            BackendMetrics.Requests.WithLabels([.. metricLabels, "500"]).Inc();
            await ApiResults.WriteErrorAsync(httpContext, ApiError.Internal("Synthesis failed."));
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Synthesis failed")]
    private static partial void LogSynthesisFailed(ILogger logger, Exception exception);
}
