using Mesh.Backend.Engine;
using Mesh.Backend.ModelFamilies;
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
    public void Kokoro_without_voices_names_the_missing_file()
    {
        var package = models.CopyOf(models.KokoroTiny);
        File.Delete(Path.Combine(package, "voices.bin"));
        var ex = Assert.Throws<ModelLoadException>(() => Load(package));
        Assert.Contains("missing its voices file", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Piper_without_its_model_names_the_missing_file()
    {
        var package = models.CopyOf(models.PiperTiny);
        File.Delete(Path.Combine(package, "en_US-tiny-medium.onnx"));
        var ex = Assert.Throws<ModelLoadException>(() => Load(package));
        Assert.Contains("missing en_US-tiny-medium.onnx", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_that_does_not_load_is_a_clear_load_error()
    {
        var package = models.CopyOf(models.KokoroTiny);
        File.WriteAllText(Path.Combine(package, "kokoro-tiny.onnx"), "not a model");
        var ex = Assert.Throws<ModelLoadException>(() => Load(package));
        Assert.Contains("failed to load", ex.Message, StringComparison.Ordinal);
        Assert.Contains("kokoro-tiny.onnx", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_and_reference_packages_are_refused()
    {
        var empty = Directory.CreateTempSubdirectory("mesh-empty-").FullName;
        Assert.Contains("No model family", Assert.Throws<ModelLoadException>(() => Load(empty)).Message, StringComparison.Ordinal);

        var reference = models.CopyOf(models.PiperTiny);
        File.WriteAllText(Path.Combine(reference, "reference.json"), "{}");
        Assert.Contains("reference model", Assert.Throws<ModelLoadException>(() => Load(reference)).Message, StringComparison.Ordinal);

        Assert.Contains("neither", Assert.Throws<ModelLoadException>(() => Load("/no/such/model")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Int8_is_refused_until_it_exists()
    {
        var ex = Assert.Throws<ModelLoadException>(
            () => SpeechModelLoader.Load(models.PiperTiny, EngineSettings.Cpu with { Quantize = Quantization.Int8 }, null, NullLogger.Instance));
        Assert.Contains("QUANTIZE=int8", ex.Message, StringComparison.Ordinal);
    }

    private static ISpeechModel Load(string package) => SpeechModelLoader.Load(package, EngineSettings.Cpu, null, NullLogger.Instance);
}
