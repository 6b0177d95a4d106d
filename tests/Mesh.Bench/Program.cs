using Mesh.Bench;
using Mesh.Bench.Load;

var benchmarks = new Dictionary<string, Func<string[], Task<int>>>(StringComparer.Ordinal)
{
    ["resampler"] = rest => Task.FromResult(ResamplerBenchmark.Run(rest)),
    ["ttfa"] = TtfaBenchmark.RunAsync,
    ["load"] = LoadBenchmark.RunAsync,
};

if (args.Length == 0 || !benchmarks.TryGetValue(args[0], out var run))
{
    Console.Error.WriteLine($"usage: Mesh.Bench <{string.Join('|', benchmarks.Keys)}> [options]");
    return 2;
}

return await run(args[1..]);
