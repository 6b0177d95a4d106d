using Google.Protobuf;
using Mesh.Backend.Quantizer;
using Mesh.ModelTools;
using static Mesh.Tests.Quantizer.TinyGraphs;

namespace Mesh.Tests.Quantizer;

public sealed class PackageQuantizerTests : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("mesh-package-quantizer-");

    public void Dispose() => _root.Delete(recursive: true);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_graph_that_is_not_onnx_is_named_and_leaves_no_half_package(bool outputExists)
    {
        var input = Directory.CreateDirectory(Path.Combine(_root.FullName, "in")).FullName;
        File.WriteAllBytes(Path.Combine(input, "a.onnx"), MatMul(2, 64, 64, Random(64 * 64, 1, 0.1f)).ToByteArray());
        File.WriteAllText(Path.Combine(input, "b.onnx"), "garbage");
        File.WriteAllText(Path.Combine(input, "voices.bin"), "voices");
        var output = Path.Combine(_root.FullName, "out");
        if (outputExists)
        {
            Directory.CreateDirectory(output);
        }

        var ex = Assert.Throws<InvalidDataException>(() => PackageQuantizer.Quantize(input, output, QuantizationOptions.Default));

        Assert.StartsWith("b.onnx", ex.Message, StringComparison.Ordinal);
        // Nothing that looks like a package is left, and the same command can run again once the graph is fixed.
        Assert.Equal(outputExists, Directory.Exists(output));
        Assert.False(outputExists && Directory.EnumerateFileSystemEntries(output).Any());
    }

    [Fact]
    public void A_graph_that_cannot_be_rewritten_is_named_without_the_parameter_and_leaves_no_package()
    {
        var input = Directory.CreateDirectory(Path.Combine(_root.FullName, "in")).FullName;
        File.WriteAllBytes(Path.Combine(input, "empty.onnx"), []); // a ModelProto without a graph
        var output = Path.Combine(_root.FullName, "out");

        var ex = Assert.Throws<InvalidDataException>(() => PackageQuantizer.Quantize(input, output, QuantizationOptions.Default));

        Assert.Equal("empty.onnx cannot be quantized: The model has no graph.", ex.Message);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void A_graph_with_an_uppercase_extension_is_quantized()
    {
        var input = Directory.CreateDirectory(Path.Combine(_root.FullName, "in")).FullName;
        File.WriteAllBytes(Path.Combine(input, "model.ONNX"), MatMul(2, 64, 64, Random(64 * 64, 1, 0.1f)).ToByteArray());
        var output = Path.Combine(_root.FullName, "out");

        var file = Assert.Single(PackageQuantizer.Quantize(input, output, QuantizationOptions.Default));

        Assert.Equal(("model.ONNX", 1), (file.RelativePath, file.Report.Weights.Count));
        using var written = File.OpenRead(Path.Combine(output, "model.ONNX"));
        Assert.Contains(Onnx.ModelProto.Parser.ParseFrom(written).Graph.Node, n => n.OpType == "MatMulNBits");
    }

    [Fact]
    public void A_package_without_a_graph_is_refused_before_anything_is_written()
    {
        var input = Directory.CreateDirectory(Path.Combine(_root.FullName, "in")).FullName;
        File.WriteAllText(Path.Combine(input, "voices.bin"), "voices");
        var output = Path.Combine(_root.FullName, "out");

        var ex = Assert.Throws<ArgumentException>(() => PackageQuantizer.Quantize(input, output, QuantizationOptions.Default));

        Assert.StartsWith($"--in {input} holds no .onnx graph.", ex.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void An_output_that_is_a_file_is_refused_as_such()
    {
        var input = Directory.CreateDirectory(Path.Combine(_root.FullName, "in")).FullName;
        File.WriteAllText(Path.Combine(input, "voices.bin"), "voices");
        var output = Path.Combine(_root.FullName, "out.onnx");
        File.WriteAllText(output, "keep me");

        var ex = Assert.Throws<ArgumentException>(() => PackageQuantizer.Quantize(input, output, QuantizationOptions.Default));

        Assert.Contains("is a file", ex.Message, StringComparison.Ordinal);
        Assert.Equal("keep me", File.ReadAllText(output));
    }
}
