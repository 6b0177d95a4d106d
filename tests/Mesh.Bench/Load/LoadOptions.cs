using System.Globalization;
using Mesh.Contracts;

namespace Mesh.Bench.Load;

/// <summary>The options of <c>Mesh.Bench load</c> (what <c>./mesh bench quick|full</c> passes on).</summary>
public sealed record LoadOptions
{
    public const string Usage = """
        usage: Mesh.Bench load [--profile quick|full|smoke] [--out DIR] [--target URL [--direct URL] [--baseline URL]]
                               [--ab A,B [--variant-env NAME=KEY=VALUE[,KEY=VALUE]]...] [--fidelity PATH]
                               [--mix KIND:WEIGHT,...] [--rated-concurrency N] [--neural-delay-ms N] [--neural-workers N]
                               [--model NAME] [--voice NAME] [--timeout SECONDS] [--seed N] [--corpus DIR]
                               [--only overhead,length,neural,sweep,open-loop,ab]
          Without --target the bench starts its own fleet on loopback and stops it at the end.
          --target URL     bench a running deployment instead (no fleet is started)
          --direct URL     with --target: a backend behind it, for gateway vs direct
          --baseline URL   with --target: a second gateway on the same backends, the sweep's other arm
          --ab A,B         compare two variants, pinned with X-Mesh-Variant (local: a backend per variant)
          --fidelity PATH  join the JSON of ./mesh models compare (snr_db, mel_distance, latency_ratio)
          --mix            surfaces: sse, sentences, pcm, ws, whole (default: all alike)
          --only           run only these comparisons of the profile
          A deployment with API keys needs one in the environment: MESH_API_KEY=KEY (sent as Authorization: Bearer).
        """;

    public const int MaxTimeoutSeconds = 86_400;

    public BenchProfile Profile { get; init; } = BenchProfile.Quick;

    public string OutDirectory { get; init; } = "";

    public Uri? Target { get; init; }

    public Uri? Direct { get; init; }

    public Uri? Baseline { get; init; }

    public IReadOnlyList<string> AbVariants { get; init; } = [];

    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> VariantEnvironment { get; init; } =
        new Dictionary<string, IReadOnlyDictionary<string, string>>();

    public string? FidelityPath { get; init; }

    public TrafficMix Mix { get; init; } = TrafficMix.Default;

    public int RatedConcurrency { get; init; } = 32;

    public int NeuralDelayMs { get; init; } = 200;

    /// <summary>
    /// As many as a backend takes: sized for the rated concurrency (each stream holds up to three sentences on the
    /// engine), so the neural-cost comparison measures the gateway's hop, not a queue in front of too few workers.
    /// </summary>
    public int NeuralWorkers { get; init; } = 64;

    public RequestDefaults Request { get; init; } = RequestDefaults.Standard;

    public int Seed { get; init; } = 1;

    public string? CorpusDirectory { get; init; }

    /// <summary>The comparisons to run; null runs all of the profile's.</summary>
    public IReadOnlySet<string>? Only { get; init; }

    /// <summary>Parses <paramref name="args"/>; null with <paramref name="error"/> when they are not valid.</summary>
    public static LoadOptions? Parse(IReadOnlyList<string> args, out string? error)
    {
        error = null;
        var options = new LoadOptions();
        var variantEnvironment = new Dictionary<string, IReadOnlyDictionary<string, string>>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (i + 1 >= args.Count)
            {
                error = $"{name} needs a value";
                return null;
            }

            var value = args[++i];
            switch (name)
            {
                case "--profile":
                    if (BenchProfile.All.FirstOrDefault(p => p.Name == value) is not { } profile)
                    {
                        error = $"--profile must be one of {string.Join(", ", BenchProfile.All.Select(p => p.Name))}";
                        return null;
                    }

                    options = options with { Profile = profile };
                    break;
                case "--out":
                    options = options with { OutDirectory = value };
                    break;
                case "--target" or "--direct" or "--baseline":
                    if (BenchArguments.AsHttpUrl(value) is not { } url)
                    {
                        error = $"{name} must be an http(s) URL, not '{value}'";
                        return null;
                    }

                    options = name switch
                    {
                        "--target" => options with { Target = url },
                        "--direct" => options with { Direct = url },
                        _ => options with { Baseline = url },
                    };
                    break;
                case "--ab":
                    var variants = value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
                    if (variants.Length != 2 || variants[0] == variants[1] || variants.Any(v => !System.Text.RegularExpressions.Regex.IsMatch(v, MeshNames.Pattern)))
                    {
                        error = "--ab needs two different variant names, e.g. --ab int8-graphs,fp32";
                        return null;
                    }

                    options = options with { AbVariants = variants };
                    break;
                case "--variant-env":
                    var (variant, settings) = (value.Split('=', 2)[0], value.Contains('=', StringComparison.Ordinal) ? value.Split('=', 2)[1] : "");
                    var pairs = settings.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)).ToArray();
                    if (variant.Length == 0 || pairs.Any(p => p.Length != 2 || p[0].Length == 0))
                    {
                        error = "--variant-env must look like NAME=KEY=VALUE[,KEY=VALUE] (NAME= alone for no settings)";
                        return null;
                    }

                    variantEnvironment[variant] = pairs.ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
                    break;
                case "--fidelity":
                    options = options with { FidelityPath = value };
                    break;
                case "--mix":
                    if (TrafficMix.Parse(value, out error) is not { } mix)
                    {
                        return null;
                    }

                    options = options with { Mix = mix };
                    break;
                case "--rated-concurrency" or "--neural-delay-ms" or "--neural-workers" or "--seed" or "--timeout":
                    if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) || number < (name == "--seed" ? int.MinValue : 1))
                    {
                        error = $"{name} must be a positive whole number";
                        return null;
                    }

                    // A request's timeout arms a cancellation timer, which takes at most about 24 days.
                    if (name == "--timeout" && number > MaxTimeoutSeconds)
                    {
                        error = $"--timeout is in seconds, at most {MaxTimeoutSeconds} (a day)";
                        return null;
                    }

                    options = name switch
                    {
                        "--rated-concurrency" => options with { RatedConcurrency = number },
                        "--neural-delay-ms" => options with { NeuralDelayMs = number },
                        "--neural-workers" => options with { NeuralWorkers = number },
                        "--seed" => options with { Seed = number },
                        _ => options with { Request = options.Request with { Timeout = TimeSpan.FromSeconds(number) } },
                    };
                    break;
                case "--model":
                    options = options with { Request = options.Request with { Model = value } };
                    break;
                case "--voice":
                    options = options with { Request = options.Request with { Voice = value } };
                    break;
                case "--only":
                    var only = value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
                    if (only.Count == 0 || only.Except(BenchSession.Comparisons).Any())
                    {
                        error = $"--only takes a list of: {string.Join(", ", BenchSession.Comparisons)}";
                        return null;
                    }

                    options = options with { Only = only };
                    break;
                case "--corpus":
                    options = options with { CorpusDirectory = value };
                    break;
                default:
                    error = $"unknown option {name}";
                    return null;
            }
        }

        if (options.Target is null && (options.Direct is not null || options.Baseline is not null))
        {
            error = "--direct and --baseline go with --target (the local fleet has its own)";
            return null;
        }

        if (options.FidelityPath is not null && options.AbVariants.Count == 0)
        {
            error = "--fidelity joins an A/B comparison; give --ab A,B too";
            return null;
        }

        return options with
        {
            OutDirectory = options.OutDirectory.Length > 0 ? options.OutDirectory : Path.Combine("bench-results", options.Profile.Name),
            VariantEnvironment = variantEnvironment,
        };
    }

    /// <summary>The comparisons' targets when benching a running deployment.</summary>
    public BenchTargets RemoteTargets()
    {
        var target = Target ?? throw new InvalidOperationException("No --target.");
        return new BenchTargets
        {
            Model = "target",
            Main = new Load.Target("target", target),
            Baseline = Baseline is null ? null : new Load.Target("baseline", Baseline),
            OverheadGateway = Direct is null ? null : new Load.Target(BenchSession.GatewayArm, target),
            OverheadDirect = Direct is null ? null : new Load.Target(BenchSession.DirectArm, Direct),
            VariantA = AbVariants.Count == 2 ? new Load.Target($"variant {AbVariants[0]}", target, AbVariants[0]) : null,
            VariantB = AbVariants.Count == 2 ? new Load.Target($"variant {AbVariants[1]}", target, AbVariants[1]) : null,
        };
    }

    public FleetPlan FleetPlan() => new(
        NeuralDelayMs,
        NeuralWorkers,
        [.. AbVariants.Select(v => new VariantSpec(v, VariantEnvironment.TryGetValue(v, out var env) ? env : new Dictionary<string, string>()))]);
}
