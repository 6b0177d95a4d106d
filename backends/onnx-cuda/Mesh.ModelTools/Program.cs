using Mesh.Backend.Engine;
using Mesh.Backend.ModelFamilies;
using Mesh.Backend.Quantizer;
using Mesh.ModelGeneration;
using Mesh.ModelTools;
using Mesh.ModelTools.Compare;

// mesh-models: the tool behind `./mesh models ...`.
const string Usage = """
    Usage: mesh models <command> [options]

      generate --out DIR [--only NAME[,NAME...]] [--force]
          Writes deterministic models with the real Kokoro and Piper contracts (kokoro-tiny, piper-tiny) and the
          reference models for benchmarks (ref-ar, ref-staged) under DIR. Their output is not speech. A package
          directory under DIR that exists and is not empty is refused, before anything is written; --force replaces it.
          Each package is written beside its directory and moved in whole: a failed run leaves no half package.

      quantize --in DIR --out DIR [--bits 8] [--block-size 32] [--asymmetric] [--min-dim 64] [--accuracy-level 4] [--keep-siblings]
          Copies a model package, rewriting every MatMul (and Gemm with a constant B) whose weight is a constant
          fp32/fp16 initializer of at least min-dim x min-dim into MatMulNBits (com.microsoft, 8 bits, blocks along K).
          Symmetric blocks by default; --asymmetric stores a zero point per block. --accuracy-level is read by the CPU
          provider only: 4 (default) multiplies in int8, 0 dequantizes to fp32 on every run. Two MatMuls whose products
          are only added become one over their concatenated inputs first, unless --keep-siblings. Prints the weight bytes
          before and after. --out must not exist or be empty.

      compare --a DIR --b DIR --corpus FILE --json OUT [--png OUT] [--voice NAME] [--repeats N] [--limit N]
              [--alignment forced|free] [--provider cpu|cuda] [--no-cpu-fallback] [--threads N]
          Renders every line of the corpus with both packages (same voice, deterministic) and reports the SNR (dB)
          and log-mel distance (dB) of b against a, per utterance and overall, and the latency of each. Staged
          models (ref-staged) decode b with a's durations unless --alignment free; flipped durations are counted.
          For ref-ar the signal is the logits of every decode step. Writes JSON and a PNG (default: OUT with .png).
          --limit N takes the first N lines only; --threads N sets the CPU provider's threads per session (default: one
          per core); --repeats N renders each line N times (default 1).

      -h, --help
          Prints this text, after a command too.

    Exit status: 0 done, 1 failed (a file that cannot be read or written, a graph or model that is not valid), 2 the
    command line cannot be run (an unknown option, a missing or unusable value).
    """;

if (args.Length == 0)
{
    Console.Error.WriteLine(Usage);
    return 2;
}

if (args[0] == "help" || args.Any(a => a is "-h" or "--help"))
{
    Console.WriteLine(Usage);
    return 0;
}

try
{
    return args[0] switch
    {
        "generate" => Generate(Options.Parse(args[1..], ["--out", "--only"], ["--force"])),
        "quantize" => Quantize(Options.Parse(args[1..], ["--in", "--out", "--bits", "--block-size", "--min-dim", "--accuracy-level"], ["--asymmetric", "--keep-siblings"])),
        "compare" => await CompareAsync(Options.Parse(
            args[1..],
            ["--a", "--b", "--corpus", "--json", "--png", "--voice", "--repeats", "--limit", "--alignment", "--provider", "--threads"],
            ["--no-cpu-fallback"])),
        _ => throw new UsageException($"unknown command '{args[0]}'."),
    };
}
catch (UsageException ex)
{
    Console.Error.WriteLine($"mesh models {args[0]}: {ex.Message}\n{Usage}");
    return 2;
}
catch (ArgumentException ex)
{
    // A value the command cannot work with (a directory that is not there, a block size MatMulNBits does not take).
    Console.Error.WriteLine($"mesh models {args[0]}: {CommandLine.MessageOf(ex)}");
    return 2;
}
catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException
    or ModelLoadException or Google.Protobuf.InvalidProtocolBufferException)
{
    Console.Error.WriteLine($"mesh models {args[0]}: {ex.Message}");
    return 1;
}

static int Generate(Options options)
{
    var output = Path.GetFullPath(options.Required("--out"));
    var only = options.List("--only");
    if (!options.Flag("--force"))
    {
        // A directory of a package's name may hold something generate did not write: it is replaced only when asked to.
        foreach (var package in only ?? ModelGenerator.Packages)
        {
            CommandLine.RequireEmptyOutput(Path.Combine(output, package), "--force replaces it");
        }
    }

    try
    {
        ModelGenerator.Generate(output, only, Console.Out);
    }
    catch (ArgumentException ex) when (ex.ParamName == "packages")
    {
        throw CommandLine.Naming("--only", ex);
    }

    return 0;
}

static int Quantize(Options options)
{
    var quantization = new QuantizationOptions
    {
        Bits = options.Int("--bits", 8),
        BlockSize = options.Int("--block-size", QuantizationOptions.DefaultBlockSize),
        Symmetric = !options.Flag("--asymmetric"),
        MinDimension = options.Int("--min-dim", QuantizationOptions.DefaultMinDimension),
        AccuracyLevel = options.Int("--accuracy-level", QuantizationOptions.DefaultAccuracyLevel),
        FuseSiblingMatMuls = !options.Flag("--keep-siblings"),
    };
    try
    {
        quantization.Validate();
    }
    catch (ArgumentException ex) when (QuantizeOption(ex.ParamName) is { } option)
    {
        throw CommandLine.Naming(option, ex);
    }

    PackageQuantizer.Quantize(options.Required("--in"), options.Required("--out"), quantization, Console.Out);
    return 0;
}

// The option of quantize that sets a property of QuantizationOptions.
static string? QuantizeOption(string? property) => property switch
{
    nameof(QuantizationOptions.Bits) => "--bits",
    nameof(QuantizationOptions.BlockSize) => "--block-size",
    nameof(QuantizationOptions.MinDimension) => "--min-dim",
    nameof(QuantizationOptions.AccuracyLevel) => "--accuracy-level",
    _ => null,
};

static async Task<int> CompareAsync(Options options)
{
    var json = options.Required("--json");
    var png = options.Get("--png") ?? Path.ChangeExtension(json, ".png");
    var engine = new EngineSettings
    {
        ExecutionProvider = EngineSettings.ParseOption<ExecutionProviderKind>(options.Get("--provider") ?? "cpu", "--provider"),
        CpuFallback = !options.Flag("--no-cpu-fallback"),
        IntraOpThreads = options.Count("--threads", 0),
    };
    var comparison = new ComparisonOptions
    {
        A = options.Required("--a"),
        B = options.Required("--b"),
        Corpus = options.Required("--corpus"),
        Voice = options.Get("--voice"),
        Repeats = options.Count("--repeats", 1),
        Limit = options.Count("--limit", 0),
        Alignment = EngineSettings.ParseOption<DurationAlignment>(options.Get("--alignment") ?? "forced", "--alignment"),
        Engine = engine,
    };
    foreach (var (option, path) in new[] { ("--json", json), ("--png", png) })
    {
        // Now, not once every line has been rendered.
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } directory && !Directory.Exists(directory))
        {
            throw new ArgumentException($"{option} {path}: there is no directory {directory}.");
        }
    }

    var result = await PackageComparison.RunAsync(comparison, Console.Out, CancellationToken.None);
    ComparisonPlot.Save(result, png);
    PackageComparison.WriteJson(result, json, png);
    Console.WriteLine($"wrote {json} and {png}");
    Console.WriteLine(result.Summary());
    return 0;
}
