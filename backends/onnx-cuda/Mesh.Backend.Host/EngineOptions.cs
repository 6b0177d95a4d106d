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
