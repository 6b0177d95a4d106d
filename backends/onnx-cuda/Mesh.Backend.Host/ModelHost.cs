using Mesh.Backend.ModelFamilies;
using Microsoft.Extensions.Options;

namespace Mesh.Backend.Host;

/// <summary>
/// Loads and warms up the configured model in the background, so <c>/healthz</c> answers at once and
/// <c>/readyz</c> turns 200 only when a request would be served.
/// </summary>
public sealed partial class ModelHost(IOptions<EngineOptions> options, EngineMetrics engineMetrics, ILogger<ModelHost> logger) : BackgroundService
{
    private const string WarmUpText = "Warm up.";

    private volatile ISpeechModel? _model;

    /// <summary>The loaded, warmed-up model; null until ready.</summary>
    public ISpeechModel? Model => _model;

    /// <summary>Why the model is not ready (loading, or the load error).</summary>
    public string Status { get; private set; } = "loading";

    /// <summary>Model ids clients may name: the model's own id and OpenAI's speech model names.</summary>
    public static readonly IReadOnlyList<string> OpenAiModelAliases = ["tts-1", "tts-1-hd", "gpt-4o-mini-tts"];

    public bool ServesModel(string requested) =>
        _model is { } model &&
        (string.Equals(requested, model.Id, StringComparison.OrdinalIgnoreCase) ||
         OpenAiModelAliases.Contains(requested, StringComparer.OrdinalIgnoreCase));

    public override void Dispose()
    {
        _model?.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        var settings = options.Value;
        try
        {
            var model = SpeechModelLoader.Load(settings.Model, settings.ToEngineSettings(), engineMetrics, logger);
            var voice = model.ResolveVoice(settings.DefaultVoice, null)
                ?? throw new ModelLoadException($"DEFAULT_VOICE '{settings.DefaultVoice}' is not a voice of model '{model.Id}'.");
            await WarmUpAsync(model, voice, stoppingToken);
            _model = model;
            Status = "ready";
            LogReady(logger, model.Id, model.Family, model.NativeSampleRate, model.Voices.Count);
        }
        catch (ModelLoadException ex)
        {
            Status = $"model failed to load: {ex.Message}";
            LogLoadFailed(logger, ex.Message);
        }
    }

    private static async Task WarmUpAsync(ISpeechModel model, VoiceDescriptor voice, CancellationToken cancellationToken)
    {
        await model.WarmUpAsync(voice, cancellationToken);
        var samples = 0;
        await foreach (var chunk in model.SynthesizeAsync(new SynthesisRequest(WarmUpText, voice, 1.0), cancellationToken))
        {
            samples += chunk.Samples.Length;
        }

        if (samples == 0)
        {
            throw new ModelLoadException($"Model '{model.Id}' produced no audio during warm-up.");
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {Model} ({Family}, {SampleRate} Hz, {Voices} voices) is warmed up and ready")]
    private static partial void LogReady(ILogger logger, string model, string family, int sampleRate, int voices);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Backend will not become ready: {Reason}")]
    private static partial void LogLoadFailed(ILogger logger, string reason);
}
