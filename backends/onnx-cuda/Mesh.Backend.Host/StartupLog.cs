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
        var webSockets = app.Services.GetRequiredService<IOptions<WebSocketSessionOptions>>().Value;
        var streaming = app.Services.GetRequiredService<IOptions<StreamingSettings>>().Value;
        LogBackend(app.Logger, backend.Name, backend.Variant, engine.Model, engine.DefaultVoice, engine.PreloadModel, engine.IdleUnloadSeconds, engine.RequestTimeoutSeconds);
        LogEngine(app.Logger, engine.ExecutionProvider, engine.GraphOptimization, engine.Workers, engine.Quantize, engine.CudaGraphs);
        LogPipeline(app.Logger, pipeline.Lookahead, pipeline.MaxSentenceLength, pipeline.MaxActiveRealtime, pipeline.MaxActiveBatch);
        LogWebSockets(app.Logger, webSockets.IdleTimeout);
        LogStreaming(app.Logger, streaming.SendBufferBytes);
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Backend {Name} (variant {Variant}): MODEL={Model} DEFAULT_VOICE={DefaultVoice} PRELOAD_MODEL={Preload} IDLE_UNLOAD_SECONDS={IdleUnload} REQUEST_TIMEOUT_SECONDS={RequestTimeoutSeconds}")]
    private static partial void LogBackend(ILogger logger, string name, string variant, string model, string defaultVoice, bool preload, int idleUnload, int requestTimeoutSeconds);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Engine: EXECUTION_PROVIDER={Provider} GRAPH_OPTIMIZATION={Optimization} WORKERS={Workers} QUANTIZE={Quantize} CUDA_GRAPHS={CudaGraphs}")]
    private static partial void LogEngine(ILogger logger, string provider, string optimization, int workers, string quantize, bool cudaGraphs);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Pipeline: lookahead {Lookahead} sentences, max sentence {MaxSentenceLength} chars, admits {Realtime} realtime and {Batch} batch requests")]
    private static partial void LogPipeline(ILogger logger, int lookahead, int maxSentenceLength, int realtime, int batch);

    [LoggerMessage(Level = LogLevel.Information, Message = "WebSockets: closed after {IdleTimeout} without a request")]
    private static partial void LogWebSockets(ILogger logger, TimeSpan idleTimeout);

    [LoggerMessage(Level = LogLevel.Information, Message = "Streaming: send buffer {SendBufferBytes} bytes per connection")]
    private static partial void LogStreaming(ILogger logger, int sendBufferBytes);
}
