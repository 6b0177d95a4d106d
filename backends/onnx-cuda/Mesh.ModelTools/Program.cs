using Mesh.ModelTools;

// mesh-models: the generator behind `./mesh models generate`.
const string Usage = """
    Usage: mesh models generate --out DIR [--only NAME[,NAME...]]

    Writes deterministic models with the real Kokoro and Piper contracts (kokoro-tiny, piper-tiny) and the
    reference models for benchmarks (ref-ar, ref-staged) under DIR. Their output is not speech.
    """;

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine(Usage);
    return args.Length == 0 ? 2 : 0;
}

if (args[0] != "generate")
{
    Console.Error.WriteLine($"mesh models: unknown command '{args[0]}'.\n{Usage}");
    return 2;
}

string? output = null;
string[]? only = null;
for (var i = 1; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--out" when i + 1 < args.Length:
            output = args[++i];
            break;
        case "--only" when i + 1 < args.Length:
            only = args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            break;
        default:
            Console.Error.WriteLine($"mesh models generate: unexpected argument '{args[i]}'.\n{Usage}");
            return 2;
    }
}

if (output is null)
{
    Console.Error.WriteLine($"mesh models generate: --out DIR is required.\n{Usage}");
    return 2;
}

try
{
    ModelGenerator.Generate(Path.GetFullPath(output), only, Console.Out);
    return 0;
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine($"mesh models generate: {ex.Message}");
    return 2;
}
