using System.Diagnostics;
using Mesh.Backend.ModelFamilies;
using Mesh.Backend.Pipeline;
using Mesh.Backend.Pipeline.Audio;
using Mesh.Contracts;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Mesh.Backend.Host;

public static class SpeechEndpoints
{
    public static IEndpointRouteBuilder MapSpeechEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/audio/speech", CreateSpeechAsync);
        app.MapGet("/v1/models", ListModels);
        app.MapGet("/v1/audio/voices", ListVoices);
        return app;
    }

    private static async Task<IResult> CreateSpeechAsync(
        HttpContext context,
        ModelHost host,
        IOptions<EngineOptions> engine,
        IOptions<BackendOptions> backend,
        CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        var body = await RequestBody.ReadJsonAsync(context.Request, SpeechRequestParser.MaxBodyBytes, cancellationToken);
        if (body.Error is { } bodyError)
        {
            return Rejected(bodyError, backend.Value, host);
        }

        var parsed = SpeechRequestParser.Parse(body.Bytes.Span);
        if (parsed.Error is { } parseError)
        {
            return Rejected(parseError, backend.Value, host);
        }

        var request = parsed.Request!;
        if (host.Model is not { } model)
        {
            context.Response.Headers.RetryAfter = "5";
            return Rejected(ApiError.Unavailable($"The model is not ready ({host.Status}).", "model_not_ready"), backend.Value, host);
        }

        if (!host.ServesModel(request.Model!))
        {
            return Rejected(ApiError.NotFound($"Model '{request.Model}' does not exist; GET /v1/models lists them.", "model", "model_not_found"), backend.Value, host);
        }

        var voice = model.ResolveVoice(request.Voice!, request.Language);
        if (voice is null)
        {
            var unknown = request.Language is null
                ? ApiError.NotFound($"Voice '{request.Voice}' does not exist; GET /v1/audio/voices lists them.", "voice", "voice_not_found")
                : ApiError.NotFound($"Voice '{request.Voice}' with language '{request.Language}' does not exist; GET /v1/audio/voices lists them.", "language", "voice_not_found");
            return Rejected(unknown, backend.Value, host);
        }

        var error = CheckSupported(request, model);
        if (error is not null)
        {
            return Rejected(error, backend.Value, host);
        }

        var job = new SpeechJob(request.Input!, voice, request.Speed ?? 1.0, request.ResponseFormat ?? AudioFormats.Mp3);
        return new SpeechAudioResult(
            new SpeechPipeline(model),
            job,
            TimeSpan.FromSeconds(engine.Value.RequestTimeoutSeconds),
            start,
            MetricLabels(backend.Value, model.Id));
    }

    private static ApiError? CheckSupported(SpeechRequest request, ISpeechModel model)
    {
        var format = request.ResponseFormat ?? AudioFormats.Mp3;
        if (!AudioEncoders.IsSupported(format))
        {
            return ApiError.InvalidRequest(
                $"response_format '{format}' is not available on this backend yet; use one of: {string.Join(", ", AudioEncoders.Supported)}.",
                "response_format",
                "unsupported_value");
        }

        var encodingRate = AudioEncoders.EncodingSampleRate(format, model.NativeSampleRate);
        if (encodingRate != model.NativeSampleRate)
        {
            return ApiError.InvalidRequest(
                $"response_format '{format}' needs audio at {encodingRate} Hz, and this backend does not resample yet; the native rate is {model.NativeSampleRate}.",
                "response_format",
                "unsupported_value");
        }

        if (request.StreamFormat is { } streamFormat && streamFormat != StreamFormats.Audio)
        {
            return ApiError.InvalidRequest(
                $"stream_format '{streamFormat}' is not available on this backend yet; use 'audio'.", "stream_format", "unsupported_value");
        }

        if (request.SampleRate is { } rate && rate != model.NativeSampleRate)
        {
            return ApiError.InvalidRequest(
                $"sample_rate {rate} needs resampling, which this backend does not do yet; the native rate is {model.NativeSampleRate}.",
                "sample_rate",
                "unsupported_value");
        }

        return null;
    }

    private static IResult Rejected(ApiError error, BackendOptions backend, ModelHost host)
    {
        var code = error.Status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        BackendMetrics.Requests.WithLabels([.. MetricLabels(backend, host.Model?.Id ?? "none"), code]).Inc();
        return ApiResults.Error(error);
    }

    private static string[] MetricLabels(BackendOptions backend, string model) => [backend.Name, backend.Variant, model];

    private static JsonHttpResult<ModelList> ListModels(ModelHost host)
    {
        if (host.Model is not { } model)
        {
            return TypedResults.Json(new ModelList("list", []), ContractsJsonContext.Default.ModelList);
        }

        var ids = ModelHost.OpenAiModelAliases.Prepend(model.Id);
        var list = new ModelList("list", [.. ids.Select(id => new ModelInfo(id, "model", "mesh", model.Family, model.NativeSampleRate))]);
        return TypedResults.Json(list, ContractsJsonContext.Default.ModelList);
    }

    private static JsonHttpResult<VoiceList> ListVoices(ModelHost host)
    {
        var voices = host.Model is { } model
            ? model.Voices.Select(v => new VoiceInfo(v.Id, model.Id, v.Language)).ToArray()
            : [];
        return TypedResults.Json(new VoiceList(voices), ContractsJsonContext.Default.VoiceList);
    }
}
