using System.Runtime.CompilerServices;
using Mesh.Backend.Host.Surfaces;
using Mesh.Backend.Pipeline;
using Mesh.Contracts;
using Mesh.Contracts.Http;

namespace Mesh.Backend.Host;

/// <summary>
/// Runs a prepared request through the pipeline and streams it on one surface. Before the first byte a failure is
/// still an error envelope (504 when no audio came within the timeout); after it the surface marks the failure or
/// the connection is aborted. A client that leaves cancels the request's queued and running work, and so does one that
/// stops reading for the stall timeout, whose connection is aborted.
/// </summary>
public sealed class SpeechStreamResult(
    SpeechServices services,
    PreparedSpeech speech,
    ISpeechSurface surface,
    long startTimestamp,
    string[] labels)
    : IResult
{
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        using var ownedSpeech = speech;
        using var ownedSurface = surface;
        var logger = httpContext.RequestServices.GetRequiredService<ILogger<SpeechStreamResult>>();
        var response = httpContext.Response;
        var clientGone = httpContext.RequestAborted;
        using var stall = new WriteStallGuard(services.StallTimeout, httpContext.Abort);
        using var run = new SynthesisRun(
            services, startTimestamp, speech.Job.OutputSampleRate, labels, response.Headers[MeshHeaders.RequestId].ToString(), stall, logger, clientGone);

        try
        {
            await run.RunAsync(
                async cancellationToken =>
                {
                    surface.Open();
                    await foreach (var pipelineEvent in EventsAndWaitingOutputAsync(cancellationToken))
                    {
                        await WriteAsync(pipelineEvent is null
                            ? await surface.RenderWaitingAsync(clientGone)
                            : await surface.RenderAsync(pipelineEvent, clientGone));
                    }

                    await WriteAsync(await surface.CompleteAsync(Usage(run.Clock), clientGone));
                    run.Complete();
                },
                error => FailAsync(httpContext, error));
        }
        catch (Exception) when (run.ClientGone)
        {
            // Nobody is left to answer; the run has counted it.
        }

        async Task WriteAsync(SurfaceOutput output)
        {
            run.OnProduced(output.AudioSamples);
            if (output.Bytes.IsEmpty)
            {
                return;
            }

            if (!response.HasStarted)
            {
                response.StatusCode = StatusCodes.Status200OK;
                surface.Start(response);
                run.OnResponseStarted(failuresCut: !surface.MarksFailures);
            }

            run.Clock.OnWrite();
            // Kestrel's response stream flushes each write itself.
            await stall.WriteAsync(response.Body, output.Bytes, clientGone);
        }
    }

    /// <summary>
    /// The pipeline's events, and a null whenever the surface has bytes that no event brought: ffmpeg finishes frames
    /// after the call that fed it has returned, and they go out as they come, not with the next event, which may be a
    /// whole sentence's synthesis away.
    /// </summary>
    private async IAsyncEnumerable<PipelineEvent?> EventsAndWaitingOutputAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var events = services.Pipeline.RunAsync(speech.Job, stop.Token).GetAsyncEnumerator(stop.Token);
        var next = events.MoveNextAsync().AsTask();
        try
        {
            while (true)
            {
                if (surface.WhenOutputWaiting() is { } waiting && await Task.WhenAny(next, waiting) == waiting)
                {
                    yield return null;
                    continue;
                }

                if (!await next)
                {
                    yield break;
                }

                yield return events.Current;
                next = events.MoveNextAsync().AsTask();
            }
        }
        finally
        {
            // A consumer that stopped early (a failed write) leaves a wait for the next event, which must end before
            // the pipeline may be disposed.
            await stop.CancelAsync();
            await ((Task)next).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await events.DisposeAsync();
        }
    }

    private SpeechUsage Usage(StreamClock clock)
    {
        var input = SpeechRequestParser.CountCharacters(speech.Job.Text);
        var output = (long)Math.Round(clock.AudioSeconds * speech.Job.OutputSampleRate);
        return new SpeechUsage(input, output, input + output);
    }

    private async Task FailAsync(HttpContext httpContext, ApiError error)
    {
        var response = httpContext.Response;
        if (!response.HasStarted)
        {
            await ApiResults.WriteErrorAsync(httpContext, error);
            return;
        }

        if (surface.RenderFailure(error) is { } marker)
        {
            await response.Body.WriteAsync(marker, httpContext.RequestAborted);
            await response.Body.FlushAsync(httpContext.RequestAborted);
            await response.CompleteAsync();
            return;
        }

        httpContext.Abort();
    }
}
