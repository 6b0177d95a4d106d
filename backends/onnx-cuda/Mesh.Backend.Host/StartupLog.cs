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
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Backend {Name} (variant {Variant}): MODEL={Model} DEFAULT_VOICE={DefaultVoice} REQUEST_TIMEOUT_SECONDS={RequestTimeoutSeconds}")]
    private static partial void LogConfiguration(ILogger logger, string name, string variant, string model, string defaultVoice, int requestTimeoutSeconds);
}
