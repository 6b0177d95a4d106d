using System.Diagnostics;
using Mesh.Backend.Host.Surfaces;
using Mesh.Backend.Pipeline;
using Mesh.Backend.Pipeline.Audio;
using Mesh.Contracts;
using Mesh.Contracts.Http;
using Microsoft.Extensions.Options;

namespace Mesh.Backend.Host;

public static class SpeechEndpoints
{
    /// <summary>The HTTP surfaces of one speech request, and the priority class each defaults to.</summary>
    private enum Surface
    {
        Speech,
        SentenceSse,
        RawPcm,
    }

    public static IEndpointRouteBuilder MapSpeechEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/audio/speech", (HttpContext context, SpeechServices services) => HandleAsync(context, services, Surface.Speech));
        app.MapPost("/v1/audio/speech/stream", (HttpContext context, SpeechServices services) => HandleAsync(context, services, Surface.SentenceSse));
        app.MapPost("/v1/audio/speech/stream/pcm", (HttpContext context, SpeechServices services) => HandleAsync(context, services, Surface.RawPcm));
        app.MapGetAndHead("/v1/models", async (ModelHost host, IOptions<BackendOptions> backend, CancellationToken cancellationToken) =>
            await ListModelsAsync(host, backend.Value, cancellationToken) is { } models
                ? TypedResults.Json(models, ContractsJsonContext.Wire.ModelList)
                : ApiResults.Error(SpeechPreparation.ModelNotReady(host)));
        app.MapGetAndHead("/v1/models/{id}", async (string id, HttpRequest request, ModelHost host, IOptions<BackendOptions> backend, CancellationToken cancellationToken) =>
            await ListModelsAsync(host, backend.Value, cancellationToken) is { } models
                ? ApiResults.Model(models, RouteSegments.LastDecoded(request, id))
                : ApiResults.Error(SpeechPreparation.ModelNotReady(host)));
        app.MapGetAndHead("/v1/audio/voices", ListVoices);
        return app;
    }

    private static async Task<IResult> HandleAsync(HttpContext context, SpeechServices services, Surface surface)
    {
        var start = Stopwatch.GetTimestamp();
        var cancellationToken = context.RequestAborted;
        var headerPriority = context.Request.Headers[MeshHeaders.Priority].FirstOrDefault();
        RequestBody body;
        try
        {
            body = await RequestBody.ReadJsonAsync(context.Request, SpeechRequestParser.MaxBodyBytes, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Only the client's reset or departure cancels the read: it gets no answer, so it counts as 499, as the
            // gateway counts it, in the class a request with no body would run in.
            services.Count(MeshStatusCodes.ClientClosedRequest, SpeechPreparation.PriorityOf(null, DefaultsOf(surface, null), headerPriority));
            throw;
        }

        var parsed = body.Error is null ? SpeechRequestParser.Parse(body.Bytes.Span) : new ParsedSpeechRequest(null, body.Error);
        var request = parsed.Request;
        var defaults = DefaultsOf(surface, request);
        var preparation = await services.PrepareAsync(parsed, defaults, headerPriority, start, cancellationToken);
        if (preparation.Error is { } error)
        {
            return services.Rejected(error, SpeechPreparation.PriorityOf(request, defaults, headerPriority));
        }

        var speech = preparation.Speech!;
        var rate = speech.Job.OutputSampleRate;
        ISpeechSurface output;
        try
        {
            output = surface switch
            {
                Surface.SentenceSse => new SentenceSseSurface(rate),
                Surface.RawPcm => new EncodedAudioSurface(new PcmEncoder(), rate),
                _ when request!.StreamFormat == StreamFormats.Sse => new OpenAiSseSurface(services.CreateEncoder(speech.ResponseFormat, rate, streamed: true), rate),
                _ => new EncodedAudioSurface(services.CreateEncoder(speech.ResponseFormat, rate, streamed: request.StreamFormat is not null), rate),
            };
        }
        catch
        {
            // Until the result below owns them, the admission slot and the model lease are this method's to return. The
            // failure (an encoder's native init) goes on to the exception handler, which answers it with a 500.
            speech.Dispose();
            services.Count(StatusCodes.Status500InternalServerError, speech.Job.Priority);
            throw;
        }

        return new SpeechStreamResult(services, speech, output, start, services.Labels(speech.Job.Model.Id, speech.Job.Priority));
    }

    /// <summary>What a request on <paramref name="surface"/> runs as unless it says: OpenAI's SSE is realtime, its whole file batch.</summary>
    private static SurfaceDefaults DefaultsOf(Surface surface, SpeechRequest? request) => surface switch
    {
        Surface.Speech when request?.StreamFormat == StreamFormats.Sse => new SurfaceDefaults(PriorityClasses.Realtime),
        Surface.Speech => new SurfaceDefaults(PriorityClasses.Batch),
        _ => SurfaceDefaults.Pcm,
    };

    /// <summary>
    /// The served model under each of its ids; null while none is served, which is no answer that the model does not
    /// exist: an empty list, or a 404 for its id, would tell a client not to retry a backend that is still loading it.
    /// </summary>
    private static async Task<ModelList?> ListModelsAsync(ModelHost host, BackendOptions backend, CancellationToken cancellationToken)
    {
        if (await host.DescribeAsync(cancellationToken) is not { } model)
        {
            return null;
        }

        var ids = ModelHost.IdsOf(model.Id);
        // Each entry says how this backend runs it; the gateway merges the entries of all its backends by id.
        ModelBackendInfo[]? runtime = model.Runtime is { } r
            ? [new ModelBackendInfo(backend.Name, backend.Variant, r.Provider, r.Precision, r.Graphs)]
            : null;
        return ModelList.Of(ids.Select(id => new ModelInfo(
            id, "model", model.FirstLoaded.ToUnixTimeSeconds(), "mesh", model.Family, model.NativeSampleRate, model.Runtime?.Precision, model.Runtime?.Graphs, runtime)));
    }

    private static async Task<IResult> ListVoices(ModelHost host, CancellationToken cancellationToken) =>
        await host.DescribeAsync(cancellationToken) is { } model
            ? TypedResults.Json(new VoiceList([.. model.Voices.Select(v => new VoiceInfo(v.Id, model.Id, v.Language))]), ContractsJsonContext.Wire.VoiceList)
            : ApiResults.Error(SpeechPreparation.ModelNotReady(host));
}

/// <summary>What every speech surface needs, resolved once.</summary>
public sealed class SpeechServices(
    SpeechPreparation preparation,
    SpeechPipeline pipeline,
    ModelHost host,
    IOptions<EngineOptions> engine,
    IOptions<BackendOptions> backend,
    IOptions<StreamingSettings> streaming,
    IOptions<FaultOptions> faults,
    DrainState drain)
{
    public SpeechPipeline Pipeline => pipeline;

    /// <summary>Cancelled when shutdown's drain time has run out: a stream still running then ends with a 503.</summary>
    public CancellationToken DrainEnded => drain.DrainEnded;

    public TimeSpan FirstAudioTimeout => TimeSpan.FromSeconds(engine.Value.RequestTimeoutSeconds);

    /// <summary>How long a stream's write may go without progress before the stream is ended.</summary>
    public TimeSpan StallTimeout => streaming.Value.StallTimeout;

    /// <summary>The encoder of a response in <paramref name="format"/>, unless <c>Faults:EncoderInitFailure</c> drills its failure.</summary>
    public IAudioEncoder CreateEncoder(string format, int sampleRate, bool streamed) => faults.Value.EncoderInitFailure
        ? throw new InvalidOperationException("Injected encoder fault (Faults:EncoderInitFailure).")
        : AudioEncoders.Create(format, sampleRate, streamed);

    /// <summary>Metric labels of a request: backend, variant, model, priority.</summary>
    public string[] Labels(string model, string priority) => [backend.Value.Name, backend.Value.Variant, model, priority];

    /// <summary>
    /// Prepares <paramref name="parsed"/>, or passes on the error it did not parse with. A client that closes or breaks
    /// the connection meanwhile (a model loading on demand holds a request longest) gets no answer: the request is
    /// counted as 499 here, once, and the cancellation goes on to the caller. One whose first-audio deadline, counted
    /// from <paramref name="startTimestamp"/>, runs out meanwhile gets its 504; a load it waited for goes on for the next.
    /// One still waiting when shutdown's drain time runs out gets 503 <c>draining</c>, as a stream still running then does.
    /// </summary>
    public async Task<Preparation> PrepareAsync(
        ParsedSpeechRequest parsed, SurfaceDefaults defaults, string? headerPriority, long startTimestamp, CancellationToken cancellationToken)
    {
        using var deadline = new FirstAudioDeadline(FirstAudioTimeout, startTimestamp, cancellationToken);
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, DrainEnded);
        Preparation? prepared = null;
        try
        {
            prepared = parsed.Error is { } parseError
                ? new Preparation(null, parseError)
                : await preparation.PrepareAsync(parsed.Request!, defaults, headerPriority, waiting.Token);
            cancellationToken.ThrowIfCancellationRequested();
            return prepared;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            prepared?.Speech?.Dispose();
            Count(MeshStatusCodes.ClientClosedRequest, SpeechPreparation.PriorityOf(parsed.Request, defaults, headerPriority));
            throw;
        }
        catch (OperationCanceledException) when (DrainEnded.IsCancellationRequested)
        {
            return new Preparation(null, SpeechPreparation.Draining);
        }
        catch (OperationCanceledException) when (deadline.Token.IsCancellationRequested)
        {
            return new Preparation(null, deadline.Error);
        }
    }

    /// <summary>Counts and answers a request refused before it ran.</summary>
    public IResult Rejected(ApiError error, string priority)
    {
        Count(error, priority);
        return ApiResults.Error(error);
    }

    public void Count(ApiError error, string priority) => Count(error.Status, priority);

    /// <summary>Counts a request answered, or left unanswered, with <paramref name="status"/> in <c>mesh_requests_total</c>.</summary>
    public void Count(int status, string priority)
    {
        BackendMetrics.CountRequest(Labels(host.ServedModelId ?? BackendMetrics.Unknown, priority), status);
    }
}
