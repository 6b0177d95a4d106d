using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace Mesh.Backend.Host;

/// <summary>Engine settings under their seed-compatible environment names (MODEL, DEFAULT_VOICE, ...).</summary>
public sealed class EngineOptions
{
    /// <summary><c>espeak</c> (built in) or a model package directory.</summary>
    [ConfigurationKeyName("MODEL")]
    [Required]
    public string Model { get; set; } = "espeak";

    [ConfigurationKeyName("DEFAULT_VOICE")]
    [Required]
    public string DefaultVoice { get; set; } = "alloy";

    /// <summary>Load and warm up at start; otherwise the first request loads the model.</summary>
    [ConfigurationKeyName("PRELOAD_MODEL")]
    public bool PreloadModel { get; set; } = true;

    /// <summary>Unload the model after this many seconds without requests (0: never); the next request reloads it.</summary>
    [ConfigurationKeyName("IDLE_UNLOAD_SECONDS")]
    [Range(0, 86400)]
    public int IdleUnloadSeconds { get; set; }

    /// <summary>Concurrent synthesis workers.</summary>
    [ConfigurationKeyName("WORKERS")]
    [Range(1, 64)]
    public int Workers { get; set; } = 1;

    /// <summary>A request that has not produced its first byte by then gets 504.</summary>
    [ConfigurationKeyName("REQUEST_TIMEOUT_SECONDS")]
    [Range(1, 3600)]
    public int RequestTimeoutSeconds { get; set; } = 120;
}

/// <summary>Who this backend is in the fleet (section <c>Backend</c>).</summary>
public sealed class BackendOptions
{
    public const string Section = "Backend";

    /// <summary>Reported in <c>X-Mesh-Backend</c> and the <c>backend</c> metric label.</summary>
    [Required]
    [RegularExpression("^[A-Za-z0-9._-]{1,64}$")]
    public string Name { get; set; } = "backend";

    [Required]
    [RegularExpression("^[A-Za-z0-9._-]{1,64}$")]
    public string Variant { get; set; } = "default";
}

/// <summary>Pipeline and queue settings (section <c>Pipeline</c>).</summary>
public sealed class PipelineSettings
{
    public const string Section = "Pipeline";

    /// <summary>Sentences on the engine ahead of the one streaming out.</summary>
    [Range(0, 16)]
    public int Lookahead { get; set; } = 2;

    /// <summary>Text without sentence punctuation is cut at clause boundaries or spaces to stay under this.</summary>
    [Range(50, 2000)]
    public int MaxSentenceLength { get; set; } = 300;

    /// <summary>Realtime requests admitted at once; more get 429.</summary>
    [Range(1, 100_000)]
    public int MaxActiveRealtime { get; set; } = 64;

    /// <summary>Batch requests admitted at once; more get 429.</summary>
    [Range(1, 100_000)]
    public int MaxActiveBatch { get; set; } = 16;
}
