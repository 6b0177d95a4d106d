using System.ComponentModel.DataAnnotations;
using Mesh.Contracts;
using Mesh.Contracts.Http;
using Microsoft.Extensions.Options;

namespace Mesh.Gateway;

/// <summary>The backends behind the gateway (section <c>Mesh:Fleet</c>); reloaded when the configuration changes.</summary>
public sealed class FleetOptions
{
    public const string Section = "Mesh:Fleet";

    /// <summary>Each checked on its own, by its key (<see cref="ListEntriesValidator{TOptions, TEntry}"/>).</summary>
    public List<BackendEndpoint> Backends { get; set; } = [];
}

/// <summary>One backend (or, with <see cref="Discover"/>, a DNS name standing for several) and where it serves.</summary>
public sealed class BackendEndpoint
{
    [Required]
    [RegularExpression(MeshNames.Pattern)]
    public string Name { get; set; } = "";

    [Required]
    [AbsoluteHttpUrl]
    public string Address { get; set; } = "";

    /// <summary><c>realtime</c>, <c>batch</c> or <c>shared</c> (serves both classes).</summary>
    [Required]
    [RegularExpression("^(realtime|batch|shared)$")]
    public string Pool { get; set; } = Pools.Shared;

    /// <summary>The engine configuration the backend runs, for A/B comparison.</summary>
    [Required]
    [RegularExpression(MeshNames.Pattern)]
    public string Variant { get; set; } = "default";

    /// <summary>
    /// True when <see cref="Address"/> names a DNS host standing for many backends (a Kubernetes headless Service):
    /// each of its A/AAAA records becomes a backend of the pool, followed as the records change (<see cref="DiscoveryOptions"/>).
    /// </summary>
    public bool Discover { get; set; }
}

/// <summary>
/// How backends marked <see cref="BackendEndpoint.Discover"/> are resolved (section <c>Mesh:Discovery</c>). A failed or
/// empty answer keeps the addresses last resolved: a DNS outage must not empty a pool that is still serving.
/// </summary>
public sealed class DiscoveryOptions
{
    public const string Section = "Mesh:Discovery";

    /// <summary>Time between resolutions; kube DNS keeps a headless Service's records for 5 s by default.</summary>
    [Range(100, 3_600_000)]
    public int RefreshMs { get; set; } = 5_000;

    /// <summary>A lookup with no answer by then counts as failed, so one slow host cannot hold back the others.</summary>
    [Range(100, 60_000)]
    public int TimeoutMs { get; set; } = 2_000;

    /// <summary>
    /// A file in hosts(5) format that replaces DNS: names resolve from it alone, read anew on every refresh. For a fleet
    /// whose addresses are kept in a file rather than in DNS, and for tests; DNS is used when unset.
    /// </summary>
    public string? HostsFile { get; set; }
}

public static class Pools
{
    public const string Shared = "shared";
}

/// <summary>
/// How the gateway picks a backend within a pool (section <c>Mesh:Balancing</c>): <c>LeastLoaded</c> (ours: live load
/// reported by the backends), or YARP's built-in <c>PowerOfTwoChoices</c> (its default) or <c>RoundRobin</c>, by their YARP names,
/// kept selectable so the policies can be compared on the same fleet.
/// </summary>
public sealed class BalancingOptions
{
    public const string Section = "Mesh:Balancing";
    public const string LeastLoaded = "LeastLoaded";
    public const string PowerOfTwoChoices = "PowerOfTwoChoices";
    public const string RoundRobin = "RoundRobin";

    public static IReadOnlyList<string> Policies { get; } = [LeastLoaded, PowerOfTwoChoices, RoundRobin];

    [Required]
    public string Policy { get; set; } = LeastLoaded;
}

/// <summary>A/B weights per variant (section <c>Mesh:Variants</c>); a variant without a weight gets none of the traffic
/// unless no weights are configured at all, when every variant weighs the same.</summary>
public sealed class VariantOptions
{
    public const string Section = "Mesh:Variants";

    public Dictionary<string, double> Weights { get; set; } = [];
}

/// <summary>Priority admission (section <c>Mesh:Admission</c>).</summary>
public sealed class AdmissionOptions
{
    public const string Section = "Mesh:Admission";

    /// <summary>Requests forwarded at once, over all classes.</summary>
    [Range(1, 100_000)]
    public int TotalConcurrency { get; set; } = 16;

    /// <summary>Slots batch never takes, so realtime always finds room.</summary>
    [Range(0, 100_000)]
    public int RealtimeReserved { get; set; } = 4;

    [Required]
    [ValidateObjectMembers]
    public ClassLimits Realtime { get; set; } = new() { MaxQueue = 64, QueueTimeoutMs = 2_000 };

    [Required]
    [ValidateObjectMembers]
    public ClassLimits Batch { get; set; } = new() { MaxQueue = 32, QueueTimeoutMs = 30_000 };
}

public sealed class ClassLimits
{
    /// <summary>Requests waiting for a slot; one more is shed with 429.</summary>
    [Range(0, 100_000)]
    public int MaxQueue { get; set; }

    /// <summary>A request waiting longer is shed with 429.</summary>
    [Range(1, 600_000)]
    public int QueueTimeoutMs { get; set; }
}

/// <summary>
/// The kernel buffers a stream crosses in the gateway (section <c>Mesh:Streaming</c>): the clients' send buffer (the
/// base's), and the receive buffer of each connection to a backend, which would otherwise grow to megabytes, all of it
/// audio made for a reader that may have stopped.
/// </summary>
public sealed class GatewayStreamBufferOptions : StreamBufferOptions
{
    public const string Section = "Mesh:Streaming";

    /// <summary>
    /// SO_RCVBUF of each connection to a backend, set before it connects so that the window it offers stays this small.
    /// Backends sit in the gateway's cluster: at 1 ms RTT 64 KiB carries 64 MB/s, 680 times real time for 48 kHz PCM.
    /// </summary>
    [Range(MinBytes, MaxBytes)]
    public int BackendReceiveBufferBytes { get; set; } = 64 * 1024;
}

/// <summary>The gateway's shutdown timing (section <c>Mesh:Shutdown</c>).</summary>
public sealed class GatewayShutdownOptions : ShutdownOptions
{
    public const string Section = "Mesh:Shutdown";
}

/// <summary>Passive health (section <c>Mesh:Health</c>): how many failed answers eject a backend, and for how long.</summary>
public sealed class PassiveHealthOptions
{
    public const string Section = "Mesh:Health";

    /// <summary>Consecutive 5xx answers or timeouts that eject a backend.</summary>
    [Range(1, 1000)]
    public int ConsecutiveFailures { get; set; } = 3;

    [Range(1, 3600)]
    public int ReactivationSeconds { get; set; } = 10;
}

/// <summary>API keys (section <c>Mesh:Auth</c>), stored as SHA-256 hashes; reloaded live, so a revoked key stops at once.</summary>
public sealed class AuthOptions : IValidatableObject
{
    public const string Section = "Mesh:Auth";

    /// <summary>Each checked on its own, by its key (<see cref="ListEntriesValidator{TOptions, TEntry}"/>).</summary>
#pragma warning disable SYSLIB1213 // Not [ValidateEnumeratedItems]: that would check an entry bound from null or {} as well.
    public List<ApiKeyEntry> Keys { get; set; } = [];
#pragma warning restore SYSLIB1213

    /// <summary>A JSON file with the same shape (<c>{"Mesh":{"Auth":{"Keys":[...]}}}</c>), watched for changes.</summary>
    public string? KeysFile { get; set; }

    /// <summary>Each name once: a key's rate limit is kept by its name, so two keys of one name would share one limit.</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext) =>
        Keys.GroupBy(key => key.Name, StringComparer.Ordinal)
            // A key without a name is refused by its entry's checks (or as null or {}), not again as a second one named "".
            .Where(named => !string.IsNullOrEmpty(named.Key) && named.Count() > 1)
            .Select(named => new ValidationResult(
                $"API key name '{named.Key}' is used by {named.Count()} keys; every key needs a name of its own, since its rate limit is kept by name.",
                [nameof(Keys)]));
}

public sealed class ApiKeyEntry
{
    [Required]
    [RegularExpression(MeshNames.Pattern)]
    public string Name { get; set; } = "";

    /// <summary>Lowercase hex SHA-256 of the key; the key itself is never stored.</summary>
    [Required]
    [RegularExpression("^[0-9a-f]{64}$")]
    public string Sha256 { get; set; } = "";

    public bool Revoked { get; set; }

    /// <summary>Whether this key may ask for the realtime class on a surface that defaults to batch.</summary>
    public bool AllowRealtime { get; set; } = true;

    /// <summary>Token bucket: sustained requests per second and the burst above it.</summary>
    [Range(0.001, 1_000_000)]
    public double RequestsPerSecond { get; set; } = 20;

    [Range(1, 1_000_000)]
    public int Burst { get; set; } = 40;
}

/// <summary>
/// Validators generated from the data annotations at build time. Unlike <c>ValidateDataAnnotations</c> they descend into
/// members marked <see cref="ValidateObjectMembersAttribute"/>, so a class's queue limits out of range stop the start
/// instead of failing the first request; a backend or an API key is checked with its list entry
/// (<see cref="ListEntriesValidator{TOptions, TEntry}"/>).
/// </summary>
[OptionsValidator]
public sealed partial class AdmissionOptionsValidator : IValidateOptions<AdmissionOptions>;

[OptionsValidator]
public sealed partial class AuthOptionsValidator : IValidateOptions<AuthOptions>;

[OptionsValidator]
public sealed partial class BackendEndpointValidator : IValidateOptions<BackendEndpoint>;

[OptionsValidator]
public sealed partial class ApiKeyEntryValidator : IValidateOptions<ApiKeyEntry>;
