using System.Text.Json.Nodes;
using Mesh.Backend.Engine;
using Mesh.Backend.ModelFamilies;
using Mesh.Tests.Quantizer;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Tests.Engine;

[Collection(GeneratedModelsDefinition.Name)]
public sealed class ModelPackageTests(GeneratedModels models)
{
    [Fact]
    public void Families_are_detected_from_the_files()
    {
        Assert.Equal("kokoro", ModelPackage.Detect(models.KokoroTiny).Family);
        var piper = ModelPackage.Detect(models.PiperTiny);
        Assert.Equal("piper", piper.Family);
        Assert.EndsWith("en_US-tiny-medium.onnx", piper.ModelFile, StringComparison.Ordinal);
    }

    [Fact]
    public void Graph_files_with_an_uppercase_extension_are_detected()
    {
        var kokoro = models.CopyOf(models.KokoroTiny);
        File.Move(Path.Combine(kokoro, "kokoro-tiny.onnx"), Path.Combine(kokoro, "kokoro-tiny.ONNX"));
        Assert.Equal(Path.Combine(kokoro, "kokoro-tiny.ONNX"), ModelPackage.Detect(kokoro).ModelFile);

        var piper = models.CopyOf(models.PiperTiny);
        File.Move(Path.Combine(piper, "en_US-tiny-medium.onnx"), Path.Combine(piper, "en_US-tiny-medium.ONNX"));
        File.Move(Path.Combine(piper, "en_US-tiny-medium.onnx.json"), Path.Combine(piper, "en_US-tiny-medium.ONNX.json"));
        var detected = ModelPackage.Detect(piper);
        Assert.Equal(("piper", Path.Combine(piper, "en_US-tiny-medium.ONNX")), (detected.Family, detected.ModelFile));
    }

    [Fact]
    public async Task Kokoro_without_voices_names_the_missing_file()
    {
        var package = models.CopyOf(models.KokoroTiny);
        File.Delete(Path.Combine(package, "voices.bin"));
        var ex = await Assert.ThrowsAsync<ModelLoadException>(() => LoadAsync(package));
        Assert.Contains("missing its voices file", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Piper_without_its_model_names_the_missing_file()
    {
        var package = models.CopyOf(models.PiperTiny);
        File.Delete(Path.Combine(package, "en_US-tiny-medium.onnx"));
        var ex = await Assert.ThrowsAsync<ModelLoadException>(() => LoadAsync(package));
        Assert.Contains("missing en_US-tiny-medium.onnx", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Kokoro_voice_files_differing_only_by_case_are_a_load_error_naming_both()
    {
        // Voice names ignore case (af_x and AF_x are one voice to clients), but a Linux voices/ directory can hold both.
        var package = models.CopyOf(models.KokoroTiny);
        File.Delete(Path.Combine(package, "voices.bin"));
        var voices = Directory.CreateDirectory(Path.Combine(package, "voices")).FullName;
        var row = new byte[256 * sizeof(float)];
        File.WriteAllBytes(Path.Combine(voices, "AF_x.bin"), row);
        File.WriteAllBytes(Path.Combine(voices, "af_x.bin"), row);

        var ex = await Assert.ThrowsAsync<ModelLoadException>(() => LoadAsync(package));
        Assert.Contains(package, ex.Message, StringComparison.Ordinal);
        Assert.Contains("AF_x.bin", ex.Message, StringComparison.Ordinal);
        Assert.Contains("af_x.bin", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Piper_config_with_a_voice_espeak_lacks_is_a_load_error_naming_the_field()
    {
        // Before: the package loaded, and warm-up failed with "espeak-ng has no voice or language 'xx'" naming neither.
        var package = models.CopyOf(models.PiperTiny);
        var configPath = Path.Combine(package, "en_US-tiny-medium.onnx.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!;
        config["espeak"]!["voice"] = "xx";
        File.WriteAllText(configPath, config.ToJsonString());

        var ex = await Assert.ThrowsAsync<ModelLoadException>(() => LoadAsync(package));
        Assert.Contains(package, ex.Message, StringComparison.Ordinal);
        Assert.Contains("espeak.voice", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'xx'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_model_that_does_not_load_is_a_clear_load_error()
    {
        var package = models.CopyOf(models.KokoroTiny);
        File.WriteAllText(Path.Combine(package, "kokoro-tiny.onnx"), "not a model");
        var ex = await Assert.ThrowsAsync<ModelLoadException>(() => LoadAsync(package));
        Assert.Contains("failed to load", ex.Message, StringComparison.Ordinal);
        Assert.Contains("kokoro-tiny.onnx", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_and_reference_packages_are_refused()
    {
        var empty = Directory.CreateTempSubdirectory("mesh-empty-").FullName;
        Assert.Contains("No model family", (await Assert.ThrowsAsync<ModelLoadException>(() => LoadAsync(empty))).Message, StringComparison.Ordinal);

        var reference = models.CopyOf(models.PiperTiny);
        File.WriteAllText(Path.Combine(reference, "reference.json"), "{}");
        Assert.Contains("reference model", (await Assert.ThrowsAsync<ModelLoadException>(() => LoadAsync(reference))).Message, StringComparison.Ordinal);

        Assert.Contains("neither", (await Assert.ThrowsAsync<ModelLoadException>(() => LoadAsync("/no/such/model"))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Int8_quantizes_at_load_and_caches_the_graph_by_content()
    {
        var cache = Directory.CreateTempSubdirectory("mesh-int8-cache-");
        try
        {
            var settings = EngineSettings.Cpu with { Quantize = Quantization.Int8, QuantizeCacheDirectory = cache.FullName };
            var first = new RecordingLogger();
            using (var model = await SpeechModelLoader.LoadAsync(models.KokoroTiny, settings, null, first, CancellationToken.None))
            {
                Assert.Equal(new ModelRuntime("cpu", "int8", "eager"), model.Runtime);
                await model.WarmUpAsync(model.Voices[0], CancellationToken.None);
            }

            Assert.Contains(first.Lines, l => l.Contains("QUANTIZE=int8 1 MatMul weights 307200 -> 86400 bytes", StringComparison.Ordinal) && l.Contains("quantized now", StringComparison.Ordinal));
            Assert.Single(cache.GetFiles("*.onnx"));

            var second = new RecordingLogger();
            using (var again = await SpeechModelLoader.LoadAsync(models.KokoroTiny, settings, null, second, CancellationToken.None))
            {
                Assert.Equal("int8", again.Runtime!.Precision);
            }

            Assert.Contains(second.Lines, l => l.Contains("from the cache", StringComparison.Ordinal));

            // Piper-tiny's weights are all below 64×64: nothing to quantize, and it says so.
            var piper = new RecordingLogger();
            using var fp32 = await SpeechModelLoader.LoadAsync(models.PiperTiny, settings, null, piper, CancellationToken.None);
            Assert.Equal("fp32", fp32.Runtime!.Precision);
            Assert.Contains(piper.Lines, l => l.Contains("found no MatMul weight", StringComparison.Ordinal));
        }
        finally
        {
            cache.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Cuda_without_cpu_fallback_is_a_load_error_where_no_gpu_is_usable()
    {
        if (InferenceEngine.ProbeCuda(0) is null)
        {
            return; // a usable GPU: nothing falls back
        }

        var ex = await Assert.ThrowsAsync<ModelLoadException>(
            () => SpeechModelLoader.LoadAsync(models.PiperTiny, new EngineSettings { CpuFallback = false }, null, NullLogger.Instance, CancellationToken.None));
        Assert.Contains("CPU fallback disabled", ex.Message, StringComparison.Ordinal);
    }

    private static Task<ISpeechModel> LoadAsync(string package) => SpeechModelLoader.LoadAsync(package, EngineSettings.Cpu, null, NullLogger.Instance, CancellationToken.None);
}
