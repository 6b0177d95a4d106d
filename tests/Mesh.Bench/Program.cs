using Mesh.Bench;

var benchmarks = new Dictionary<string, Func<string[], int>>(StringComparer.Ordinal)
{
    ["resampler"] = ResamplerBenchmark.Run,
    ["ttfa"] = TtfaBenchmark.Run,
};

if (args.Length == 0 || !benchmarks.TryGetValue(args[0], out var run))
{
    Console.Error.WriteLine($"usage: Mesh.Bench <{string.Join('|', benchmarks.Keys)}> [options]");
    return 2;
}

return run(args[1..]);
