using System.Globalization;
using Mesh.Backend.Engine;

namespace Mesh.GpuBench;

/// <summary>Command line of the GPU benchmark runner.</summary>
internal sealed record BenchOptions(
    string ModelsDirectory, string OutputDirectory, string? TorchResults, ExecutionProviderKind Provider, int Steps, int CpuSteps, bool GenerateOnly)
{
    public const string Usage = """
        usage: Mesh.GpuBench [--models DIR] [--out DIR] [--torch FILE] [--provider cuda|cpu] [--steps N] [--cpu-steps N] [--generate-only]
          Generates ref-ar and ref-staged under --models (when missing), then times each on the CPU provider, CUDA plain Run,
          CUDA IOBinding on fixed buffers, and IOBinding + CUDA graphs, in fp32 and int8, checks every CUDA output against
          the CPU's, and writes gpu-engine.json and gpu-results.md to --out (default: $OUT, else .mesh/gpu-bench).
          --torch joins the PyTorch timings of the same weights (tests/Mesh.GpuBench/torch_ref_ar.py).
          --provider cpu runs every path on the CPU provider (no capture): a dry run for machines without a GPU.
          --generate-only writes the models and exits (the PyTorch comparison reads ref-ar's weights from them).
        """;

    public static BenchOptions? Parse(string[] args)
    {
        var models = Path.Combine(Path.GetTempPath(), "mesh-gpu-models");
        var output = Environment.GetEnvironmentVariable("OUT") is { Length: > 0 } o ? o : Path.Combine(".mesh", "gpu-bench");
        string? torch = null;
        var provider = ExecutionProviderKind.Cuda;
        int steps = 300, cpuSteps = 20;
        var generateOnly = false;
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : null;
            switch (args[i])
            {
                case "--models" when value is not null: models = value; i++; break;
                case "--out" when value is not null: output = value; i++; break;
                case "--torch" when value is not null: torch = value; i++; break;
                case "--provider" when value is not null: provider = EngineSettings.ParseOption<ExecutionProviderKind>(value, "--provider"); i++; break;
                case "--steps" when int.TryParse(value, CultureInfo.InvariantCulture, out var n) && n > 0: steps = n; i++; break;
                case "--cpu-steps" when int.TryParse(value, CultureInfo.InvariantCulture, out var n) && n > 0: cpuSteps = n; i++; break;
                case "--generate-only": generateOnly = true; break;
                default: return null;
            }
        }

        return new BenchOptions(models, output, torch, provider, steps, cpuSteps, generateOnly);
    }
}
