using Microsoft.Extensions.Options;

namespace Mesh.Backend.Host;

internal static partial class StartupLog
{
    /// <summary>Logs the effective configuration once, so an operator can see what a backend really runs with.</summary>
    public static void EffectiveConfiguration(WebApplication app)
    {
        var engine = app.Services.GetRequiredService<IOptions<EngineOptions>>().Value;
        var backend = app.Services.GetRequiredService<IOptions<BackendOptions>>().Value;
        LogConfiguration(app.Logger, backend.Name, backend.Variant, engine.Model, engine.DefaultVoice, engine.RequestTimeoutSeconds);
        LogEngine(app.Logger, engine.ExecutionProvider, engine.GraphOptimization, engine.Workers, engine.Quantize, engine.CudaGraphs);
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Backend {Name} (variant {Variant}): MODEL={Model} DEFAULT_VOICE={DefaultVoice} REQUEST_TIMEOUT_SECONDS={RequestTimeoutSeconds}")]
    private static partial void LogConfiguration(ILogger logger, string name, string variant, string model, string defaultVoice, int requestTimeoutSeconds);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Engine: EXECUTION_PROVIDER={Provider} GRAPH_OPTIMIZATION={Optimization} WORKERS={Workers} QUANTIZE={Quantize} CUDA_GRAPHS={CudaGraphs}")]
    private static partial void LogEngine(ILogger logger, string provider, string optimization, int workers, string quantize, bool cudaGraphs);
}
