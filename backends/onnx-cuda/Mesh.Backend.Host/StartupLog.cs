using Microsoft.Extensions.Options;

namespace Mesh.Backend.Host;

internal static partial class StartupLog
{
    /// <summary>Logs the effective configuration once, so an operator can see what a backend really runs with.</summary>
    public static void EffectiveConfiguration(WebApplication app)
    {
        var engine = app.Services.GetRequiredService<IOptions<EngineOptions>>().Value;
        var backend = app.Services.GetRequiredService<IOptions<BackendOptions>>().Value;
        var pipeline = app.Services.GetRequiredService<IOptions<PipelineSettings>>().Value;
        LogEngine(app.Logger, backend.Name, backend.Variant, engine.Model, engine.DefaultVoice, engine.PreloadModel, engine.IdleUnloadSeconds, engine.Workers, engine.RequestTimeoutSeconds);
        LogPipeline(app.Logger, pipeline.Lookahead, pipeline.MaxSentenceLength, pipeline.MaxActiveRealtime, pipeline.MaxActiveBatch);
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Backend {Name} (variant {Variant}): MODEL={Model} DEFAULT_VOICE={DefaultVoice} PRELOAD_MODEL={Preload} IDLE_UNLOAD_SECONDS={IdleUnload} WORKERS={Workers} REQUEST_TIMEOUT_SECONDS={RequestTimeoutSeconds}")]
    private static partial void LogEngine(ILogger logger, string name, string variant, string model, string defaultVoice, bool preload, int idleUnload, int workers, int requestTimeoutSeconds);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Pipeline: lookahead {Lookahead} sentences, max sentence {MaxSentenceLength} chars, admits {Realtime} realtime and {Batch} batch requests")]
    private static partial void LogPipeline(ILogger logger, int lookahead, int maxSentenceLength, int realtime, int batch);
}
