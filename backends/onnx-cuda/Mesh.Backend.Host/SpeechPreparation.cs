using Mesh.Backend.ModelFamilies;
using Mesh.Backend.Pipeline;
using Mesh.Backend.Pipeline.Audio;
using Mesh.Backend.Pipeline.Scheduling;
using Mesh.Backend.Pipeline.Text;
using Mesh.Contracts;

namespace Mesh.Backend.Host;

/// <summary>A request ready to run: the pipeline job, its output format, and its admitted place in its priority class.</summary>
public sealed record PreparedSpeech(
    SpeechJob Job, string ResponseFormat, SynthesisScheduler.AdmissionTicket Ticket, ModelHost.ModelLease Lease) : IDisposable
{
    public void Dispose()
    {
        Ticket.Dispose();
        Lease.Dispose();
    }
}

/// <summary>What a surface implies when the request does not say: its priority class, and a format it always uses.</summary>
/// <param name="Priority">Realtime for streams, batch for whole files.</param>
/// <param name="FixedFormat">PCM surfaces (<c>/stream</c>, <c>/stream/pcm</c>, the WebSocket) ignore <c>response_format</c>.</param>
/// <param name="RequiresModel">OpenAI's endpoint requires <c>model</c>; the seed-compatible surfaces default it to the served model.</param>
public sealed record SurfaceDefaults(string Priority, string? FixedFormat = null, bool RequiresModel = true)
{
    public static SurfaceDefaults Pcm { get; } = new(PriorityClasses.Realtime, AudioFormats.Pcm, RequiresModel: false);
}

/// <summary>The outcome of preparing: a runnable request or the precise error to answer with.</summary>
public sealed record Preparation(PreparedSpeech? Speech, ApiError? Error);

/// <summary>Turns a parsed request into a job: model, voice, rate, format and priority checked against what this backend serves.</summary>
public sealed class SpeechPreparation(ModelHost host, SynthesisScheduler scheduler)
{
    private const int MaxVoicesNamed = 24;

    /// <summary>The answer to a request that comes, or still waits, once shutdown has begun: another backend may serve it.</summary>
    public static ApiError Draining { get; } = ApiError.Draining("backend");

    /// <summary>
    /// The answer to input without a sentence to synthesize, whitespace, punctuation and symbols read as nothing only
    /// ("...", "?!", "|"): it would be answered with silence, or nothing at all, which a client takes for a broken engine.
    /// </summary>
    private static readonly ApiError NothingToSpeak = ApiError.InvalidRequest(
        "'input' has nothing to speak: it holds only whitespace, punctuation and symbols that are not read aloud.", "input", "nothing_to_speak");

    /// <summary>The answer while no model is served (its start-up load under way, or failed): a retry may find it loaded.</summary>
    public static ApiError ModelNotReady(ModelHost host) => ApiError.Unavailable($"The model is not ready ({host.Status}).", ErrorCodes.ModelNotReady);

    /// <param name="headerPriority">
    /// The <c>X-Priority</c> header, if any. It wins over the body's <c>priority</c>: the gateway sets it after checking
    /// what the caller's key allows.
    /// </param>
    public async Task<Preparation> PrepareAsync(
        SpeechRequest request, SurfaceDefaults defaults, string? headerPriority, CancellationToken cancellationToken)
    {
        if (PriorityClasses.HeaderError(headerPriority) is { } priorityError)
        {
            return Fail(priorityError);
        }

        if (request.Model is null && defaults.RequiresModel)
        {
            return Fail(SpeechRequestParser.Missing("model"));
        }

        // The splitter's own rule, so that a request is refused exactly when the pipeline would find no sentence in it.
        if (!SentenceSplitter.HasSpeech(request.Input!))
        {
            return Fail(NothingToSpeak);
        }

        if (host.IsDraining)
        {
            return Fail(Draining);
        }

        var lease = await host.AcquireAsync(cancellationToken);
        if (lease is null)
        {
            return Fail(ModelNotReady(host));
        }

        Preparation? preparation = null;
        try
        {
            preparation = Prepare(request, lease, defaults, headerPriority);
            return preparation;
        }
        finally
        {
            // A prepared request owns the lease from here on; a refused one, or a failure in preparing, returns it.
            if (preparation?.Speech is null)
            {
                lease.Dispose();
            }
        }
    }

    /// <summary>
    /// The priority class a request runs in, or is counted in when refused: a valid <c>X-Priority</c> header, else the
    /// body's <c>priority</c>, else the surface's default (a request that did not parse has no body to ask).
    /// </summary>
    public static string PriorityOf(SpeechRequest? request, SurfaceDefaults defaults, string? headerPriority) =>
        headerPriority is not null && PriorityClasses.All.Contains(headerPriority)
            ? headerPriority
            : request?.Priority ?? defaults.Priority;

    private Preparation Prepare(SpeechRequest request, ModelHost.ModelLease lease, SurfaceDefaults defaults, string? headerPriority)
    {
        var model = lease.Model;
        if (request.Model is { } requestedModel && !ModelHost.Serves(model, requestedModel))
        {
            return Fail(ApiError.NotFound(
                $"Model '{request.Model}' does not exist; this backend serves: {string.Join(", ", ModelHost.IdsOf(model.Id))}.", "model", "model_not_found"));
        }

        var voice = model.ResolveVoice(request.Voice!, request.Language);
        if (voice is null)
        {
            // The error names the field to change: a voice the model has under no language is the voice's fault even
            // when a language came with it; a known voice that does not speak the language is the language's.
            return Fail(request.Language is null || model.ResolveVoice(request.Voice!, null) is null
                ? ApiError.NotFound($"Voice '{request.Voice}' does not exist; {VoicesOf(model)}.", "voice", "voice_not_found")
                : ApiError.NotFound($"Voice '{request.Voice}' with language '{request.Language}' does not exist; GET /v1/audio/voices lists them.", "language", "voice_not_found"));
        }

        var format = defaults.FixedFormat ?? request.ResponseFormat ?? AudioFormats.Mp3;
        var outputRate = AudioEncoders.EncodingSampleRate(format, request.SampleRate ?? DefaultSampleRate(request, defaults, format, model));
        if (request.SampleRate is { } requested && requested != outputRate)
        {
            return Fail(ApiError.InvalidRequest(
                $"response_format '{format}' cannot carry {requested} Hz; it takes sample_rate {string.Join(", ", AudioEncoders.RequestableSampleRates(format))}.",
                "sample_rate",
                "unsupported_value"));
        }

        var priority = PriorityOf(request, defaults, headerPriority);
        var ticket = scheduler.TryAdmit(priority);
        if (ticket is null)
        {
            return Fail(new ApiError(
                StatusCodes.Status429TooManyRequests,
                $"The {priority} queue of this backend is full; retry shortly.",
                ErrorTypes.RateLimit,
                null,
                "queue_full"));
        }

        var job = new SpeechJob(model, request.Input!, voice, request.Speed ?? 1.0, outputRate, priority);
        return new Preparation(new PreparedSpeech(job, format, ticket, lease), null);
    }

    private static Preparation Fail(ApiError error) => new(null, error);

    /// <summary>
    /// The rate of a request that names none: the model's own, but for <c>pcm</c> asked of OpenAI's endpoint under one of
    /// OpenAI's model names. OpenAI's <c>pcm</c> is always 24 kHz and its SDKs have no <c>sample_rate</c>, so a client
    /// written for it plays the bytes at 24 kHz. Mesh's own PCM surfaces state their rate and keep the model's.
    /// </summary>
    private static int DefaultSampleRate(SpeechRequest request, SurfaceDefaults defaults, string format, ISpeechModel model) =>
        defaults.FixedFormat is null && format == AudioFormats.Pcm && request.Model is { } named
            ? OpenAiModels.PcmSampleRateOf(named, model.NativeSampleRate)
            : model.NativeSampleRate;

    /// <summary>
    /// The model's voices for an error message, the first <see cref="MaxVoicesNamed"/> of them: espeak has over a
    /// hundred, and a Piper package can have hundreds of speakers.
    /// </summary>
    private static string VoicesOf(ISpeechModel model)
    {
        var names = model.Voices.Select(v => v.Id).Distinct(StringComparer.OrdinalIgnoreCase).ToArray();
        var named = string.Join(", ", names.Take(MaxVoicesNamed));
        return names.Length <= MaxVoicesNamed
            ? $"this backend's voices are: {named}"
            : $"this backend has {names.Length} voices: {named} and {names.Length - MaxVoicesNamed} more; GET /v1/audio/voices lists them all";
    }
}
