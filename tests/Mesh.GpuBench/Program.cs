using Mesh.GpuBench;

// One run of every GPU engine benchmark and check; see docs/gpu-results.md for the command and the figures.
var options = BenchOptions.Parse(args);
if (options is null)
{
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}

if (options.GenerateOnly)
{
    EngineBenchmark.EnsureModels(options.ModelsDirectory, Console.Out);
    return 0;
}

var report = await new EngineBenchmark(options, Console.Out).RunAsync(CancellationToken.None);
report.Write(options.OutputDirectory, Console.Out);
return report.AllChecksPassed ? 0 : 1;
