using System.Text.Json;
using Mesh.Backend.Quantizer;
using Mesh.ModelGeneration;
using Mesh.ModelTools;
using Mesh.ModelTools.Compare;
using Mesh.Tests.Engine;
using Mesh.Tests.Integration;
using Onnx;

namespace Mesh.Tests.Quantizer;

/// <summary>Whole packages: ref-staged against the acceptance bounds, compare on the served families, and the CLI.</summary>
[Collection(GeneratedModelsDefinition.Name)]
public sealed class PackageQuantizationTests(GeneratedModels models)
{
    private static string Corpus => Path.Combine(RepoPaths.Root, "corpus", "sentences-en.txt");

    [Fact]
    public async Task Ref_staged_in_int8_keeps_no_large_fp32_matmul_a_third_of_the_bytes_and_25_dB()
    {
        var root = Directory.CreateTempSubdirectory("mesh-int8-staged-");
        try
        {
            var fp32 = ModelGenerator.Generate(root.FullName, [ModelGenerator.RefStaged]).Single();
            var int8 = Path.Combine(root.FullName, "ref-staged-int8");
            var files = PackageQuantizer.Quantize(fp32, int8, QuantizationOptions.Default);
            Assert.Equal(["decoder.onnx", "encoder.onnx"], files.Select(f => f.RelativePath));
            Assert.Equal(File.ReadAllBytes(Path.Combine(fp32, "reference.json")), File.ReadAllBytes(Path.Combine(int8, "reference.json")));

            // Counted from the graphs themselves, as an independent checker would.
            long fp32Bytes = 0, int8Bytes = 0, largeFp32MatMuls = 0, nbits = 0;
            foreach (var name in new[] { "encoder.onnx", "decoder.onnx" })
            {
                var before = Load(Path.Combine(fp32, name));
                var after = Load(Path.Combine(int8, name));
                Assert.Empty(OnnxModelChecker.Check(after));
                fp32Bytes += LargeMatMulWeights(before).Sum(TensorData.Bytes);
                largeFp32MatMuls += LargeMatMulWeights(after).Count();
                var initializers = after.Graph.Initializer.ToDictionary(i => i.Name);
                foreach (var node in after.Graph.Node.Where(n => n.OpType == "MatMulNBits"))
                {
                    nbits++;
                    int8Bytes += node.Input.Skip(1).Where(initializers.ContainsKey).Sum(i => TensorData.Bytes(initializers[i]));
                }
            }

            Assert.Equal(0, largeFp32MatMuls);
            Assert.Equal(34, nbits);
            Assert.True(int8Bytes <= 0.30 * fp32Bytes, $"{int8Bytes} of {fp32Bytes} bytes");
            var sizes = (Before: files.Sum(f => f.Report.ModelBytesBefore), After: files.Sum(f => f.Report.ModelBytesAfter));
            Assert.True(sizes.After < 0.3 * sizes.Before, $"whole model {sizes.Before} -> {sizes.After} bytes");

            // Fidelity on the first sentences of the corpus (the whole corpus is in docs/precision.md).
            var result = await PackageComparison.RunAsync(
                new ComparisonOptions { A = fp32, B = int8, Corpus = Corpus, Limit = 3 }, null, CancellationToken.None);
            Assert.Equal(("ref-staged", "fp32", "int8", 24000), (result.Kind, result.PrecisionA, result.PrecisionB, result.SampleRate));
            Assert.True(result.SnrDb >= 25, result.Summary());
            Assert.True(result.MelDistance < 1, result.Summary());
            Assert.Equal(result.Utterances.Sum(u => u.Tokens), result.Tokens);
            Assert.All(result.Utterances, u => Assert.Equal(u.SamplesA, u.SamplesB));
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Compare_of_a_package_with_itself_is_identical_and_deterministic()
    {
        var result = await PackageComparison.RunAsync(
            new ComparisonOptions { A = models.KokoroTiny, B = models.KokoroTiny, Corpus = Corpus, Limit = 2, Repeats = 2 }, null, CancellationToken.None);
        Assert.Equal(("kokoro", "af_tiny"), (result.Kind, result.Voice));
        Assert.Equal(SnrSums.MaxDb, result.SnrDb);
        Assert.Equal(0, result.MelDistance);
        Assert.True(result.Deterministic);
        Assert.Null(result.DurationMismatches); // one graph end to end: no durations to compare
    }

    [Fact]
    public async Task Quantize_and_compare_run_from_the_command_line()
    {
        var root = Directory.CreateTempSubdirectory("mesh-int8-cli-");
        try
        {
            var int8 = Path.Combine(root.FullName, "kokoro-int8");
            var (code, output) = await RunToolAsync("quantize", "--in", models.KokoroTiny, "--out", int8, "--bits", "8", "--block-size", "64", "--asymmetric");
            Assert.True(code == 0, output);
            Assert.Contains("kokoro-tiny.onnx: 1 weights in 1 MatMul + 0 Gemm nodes", output, StringComparison.Ordinal);
            Assert.Contains("block_size=64 asymmetric", output, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(int8, "voices.bin")));

            var json = Path.Combine(root.FullName, "compare.json");
            (code, output) = await RunToolAsync("compare", "--a", models.KokoroTiny, "--b", int8, "--corpus", Corpus, "--json", json, "--limit", "2");
            Assert.True(code == 0, output);
            Assert.StartsWith("kokoro int8 vs fp32: snr_db=", output.Trim().Split('\n')[^1], StringComparison.Ordinal);
            using var document = JsonDocument.Parse(File.ReadAllText(json));
            var report = document.RootElement;
            Assert.True(report.GetProperty("snr_db").GetDouble() >= 25);
            Assert.True(report.GetProperty("mel_distance").GetDouble() >= 0);
            Assert.True(report.GetProperty("latency_ratio").GetDouble() > 0);
            Assert.Equal(2, report.GetProperty("per_utterance").GetArrayLength());
            var png = report.GetProperty("png").GetString()!;
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(png)[..4]);

            (code, output) = await RunToolAsync("quantize", "--in", models.KokoroTiny, "--out", int8, "--bits", "4");
            Assert.Equal(2, code);
            Assert.Contains("only 8 is", output, StringComparison.Ordinal);
            (code, _) = await RunToolAsync("compare", "--a", models.KokoroTiny);
            Assert.Equal(2, code);
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    private static ModelProto Load(string path)
    {
        using var file = File.OpenRead(path);
        return ModelProto.Parser.ParseFrom(file);
    }

    /// <summary>fp32 MatMul weights of 64×64 or more.</summary>
    private static IEnumerable<TensorProto> LargeMatMulWeights(ModelProto model)
    {
        var initializers = model.Graph.Initializer.ToDictionary(i => i.Name);
        return model.Graph.Node
            .Where(n => n.OpType == "MatMul" && initializers.ContainsKey(n.Input[1]))
            .Select(n => initializers[n.Input[1]])
            .Where(w => w.DataType == TensorData.Float && w.Dims.Min() >= 64);
    }

    private static Task<(int ExitCode, string Output)> RunToolAsync(params string[] args) =>
        DotnetProcess.RunToExitAsync([RepoPaths.ModelToolsDll, .. args], TimeSpan.FromSeconds(120));
}
