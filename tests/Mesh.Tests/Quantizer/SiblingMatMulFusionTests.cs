using Google.Protobuf;
using Mesh.Backend.Quantizer;
using Mesh.ModelGeneration;
using Mesh.Tests.Engine;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using static Mesh.Tests.Quantizer.TinyGraphs;

namespace Mesh.Tests.Quantizer;

[Collection(ReferenceModelsDefinition.Name)]
public sealed class SiblingMatMulFusionTests(ReferenceModels models)
{
    private const int Rows = 3, InputWidth = 64, StateWidth = 96, Width = 128;
    private static readonly QuantizationOptions Exact = new() { AccuracyLevel = 0 };

    [Fact]
    public void An_input_and_a_state_projection_into_one_add_become_one_matmulnbits_over_both()
    {
        var model = Cell(Symbolic("x", "batch", InputWidth), Symbolic("h", "batch", StateWidth));
        var (x, h) = (Random(Rows * InputWidth, 1), Random(Rows * StateWidth, 2));
        var original = RunCell(model, x, h);

        var report = MatMulNBitsRewriter.Rewrite(model, Exact);

        Assert.Equal(1, report.FusedPairs);
        Assert.Equal(["Concat", "MatMulNBits", "Tanh"], model.Graph.Node.Select(n => n.OpType));
        var weight = Assert.Single(report.Weights);
        Assert.Equal((InputWidth + StateWidth, Width), (weight.K, weight.N));
        Assert.DoesNotContain(model.Graph.Initializer, i => i.Name is "Wx" or "Wh");
        Assert.Empty(OnnxModelChecker.Check(model));

        // tanh([x h] · W) with the weight the node holds: x's rows first, so the stacking order is the concat order.
        var joined = Enumerable.Range(0, Rows).SelectMany(r => x.Skip(r * InputWidth).Take(InputWidth).Concat(h.Skip(r * StateWidth).Take(StateWidth))).ToArray();
        var expected = Multiply(joined, Dequantized(model, model.Graph.Node[1]), Rows, InputWidth + StateWidth, Width).Select(Math.Tanh).ToArray();
        var fused = RunCell(model, x, h);
        Assert.True(RelativeError(fused, expected) <= 1e-5);
        Assert.True(RelativeError(fused, [.. original.Select(v => (double)v)]) <= 2e-2);
    }

    [Fact]
    public void Inputs_that_only_broadcast_together_stay_apart()
    {
        // Add broadcasts [2,1,N] + [1,3,N]; a Concat of [2,1,K1] and [1,3,K2] would fail.
        var model = Cell(Value("x", TensorData.Float, 2, 1, InputWidth), Value("h", TensorData.Float, 1, 3, StateWidth));
        var original = RunCell(model, Random(2 * InputWidth, 3), Random(3 * StateWidth, 4), [2, 1, InputWidth], [1, 3, StateWidth]);

        var report = MatMulNBitsRewriter.Rewrite(model, Exact);

        Assert.Equal(0, report.FusedPairs);
        Assert.Equal(["MatMulNBits", "MatMulNBits", "Add", "Tanh"], model.Graph.Node.Select(n => n.OpType));
        var quantized = RunCell(model, Random(2 * InputWidth, 3), Random(3 * StateWidth, 4), [2, 1, InputWidth], [1, 3, StateWidth]);
        Assert.True(RelativeError(quantized, [.. original.Select(v => (double)v)]) <= 2e-2);
    }

    [Fact]
    public void Unknown_shapes_a_product_read_elsewhere_or_the_option_off_keep_them_apart()
    {
        var unknown = Cell(Unshaped("x"), Symbolic("h", "batch", StateWidth));
        Assert.Equal(0, MatMulNBitsRewriter.Rewrite(unknown, Exact).FusedPairs);

        var otherBatch = Cell(Symbolic("x", "frames", InputWidth), Symbolic("h", "batch", StateWidth));
        Assert.Equal(0, MatMulNBitsRewriter.Rewrite(otherBatch, Exact).FusedPairs);

        var readElsewhere = Cell(Symbolic("x", "batch", InputWidth), Symbolic("h", "batch", StateWidth));
        readElsewhere.Graph.Output.Add(Value("px", TensorData.Float, Rows, Width));
        Assert.Equal(0, MatMulNBitsRewriter.Rewrite(readElsewhere, Exact).FusedPairs);
        Assert.Empty(OnnxModelChecker.Check(readElsewhere));

        var off = Cell(Symbolic("x", "batch", InputWidth), Symbolic("h", "batch", StateWidth));
        Assert.Equal(0, MatMulNBitsRewriter.Rewrite(off, Exact with { FuseSiblingMatMuls = false }).FusedPairs);
        Assert.Equal(2, off.Graph.Node.Count(n => n.OpType == MatMulNBitsRewriter.OpType));
    }

    [Fact]
    public void Shapes_follow_gather_squeeze_unsqueeze_transpose_concat_and_broadcasting()
    {
        var graph = new GraphProto { Name = "shapes" };
        graph.Input.Add(Symbolic("state", 24, "batch", 1024));
        graph.Input.Add(Symbolic("token", "batch", 1));
        graph.Initializer.Add(Int64s("layer", [], 7));
        graph.Initializer.Add(Int64s("axis1", [1], 1));
        graph.Initializer.Add(TensorData.FloatTensor("table", TensorData.Float, new float[16 * 1024], 16, 1024));
        graph.Node.Add(Node("Gather", "g", ["state", "layer"], "previous", Int("axis", 0)));
        graph.Node.Add(Node("Squeeze", "s", ["token", "axis1"], "ids"));
        graph.Node.Add(Node("Gather", "e", ["table", "ids"], "embedded", Int("axis", 0)));
        graph.Node.Add(Node("Add", "a", ["embedded", "previous"], "sum"));
        graph.Node.Add(Node("Unsqueeze", "u", ["sum", "axis1"], "column"));
        graph.Node.Add(Node("Transpose", "t", ["column"], "reversed"));
        graph.Node.Add(Node("Concat", "c", ["column", "column"], "twice", Int("axis", -1)));
        graph.Node.Add(Node("Reshape", "r", ["sum", "axis1"], "unknown"));

        var shapes = StaticShapes.Infer(graph);

        Assert.Equal("[batch, 1024]", Describe(shapes["previous"]));
        Assert.Equal("[batch]", Describe(shapes["ids"]));
        Assert.Equal("[batch, 1024]", Describe(shapes["sum"]));
        Assert.Equal("[batch, 1, 1024]", Describe(shapes["column"]));
        Assert.Equal("[1024, 1, batch]", Describe(shapes["reversed"]));
        Assert.Equal("[batch, 1, 2048]", Describe(shapes["twice"]));
        Assert.False(shapes.ContainsKey("unknown"));
    }

    [Fact]
    public void Ref_ar_joins_each_layers_two_projections_and_decodes_as_before()
    {
        var source = models.Ar.Single().Path;
        var apartModel = Load(source);
        var apart = MatMulNBitsRewriter.Rewrite(apartModel, Exact with { FuseSiblingMatMuls = false });
        var fusedModel = Load(source);
        var fused = MatMulNBitsRewriter.Rewrite(fusedModel, Exact);

        Assert.Equal((0, 49), (apart.FusedPairs, apart.Weights.Count));
        Assert.Equal((RefAr.Layers, RefAr.Layers + 1), (fused.FusedPairs, fused.Weights.Count));
        Assert.Equal(RefAr.Layers + 1, fusedModel.Graph.Node.Count(n => n.OpType == MatMulNBitsRewriter.OpType));
        Assert.DoesNotContain(fusedModel.Graph.Node, n => n.OpType == "Add");
        Assert.Empty(OnnxModelChecker.Check(fusedModel));

        var state = Random(RefAr.Layers * 2 * RefAr.Width, 5, 0.5f);
        var expected = Step(apartModel, state);
        var actual = Step(fusedModel, state);
        Assert.True(RelativeError(actual, [.. expected.Select(v => (double)v)]) <= 1e-5);
    }

    private static ModelProto Load(string path) => ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));

    /// <summary>Y = tanh(x · Wx + h · Wh); the product x · Wx is named px, for the test that also reads it.</summary>
    private static ModelProto Cell(ValueInfoProto x, ValueInfoProto h)
    {
        var graph = new GraphProto { Name = "cell" };
        graph.Input.Add(x);
        graph.Input.Add(h);

        graph.Initializer.Add(TensorData.FloatTensor("Wx", TensorData.Float, Random(InputWidth * Width, 11, 0.1f), InputWidth, Width));
        graph.Initializer.Add(TensorData.FloatTensor("Wh", TensorData.Float, Random(StateWidth * Width, 12, 0.1f), StateWidth, Width));
        graph.Node.Add(Node("MatMul", "input", ["x", "Wx"], "px"));
        graph.Node.Add(Node("MatMul", "recurrent", ["h", "Wh"], "ph"));
        graph.Node.Add(Node("Add", "sum", ["px", "ph"], "s"));
        graph.Node.Add(Node("Tanh", "act", ["s"], "Y"));
        graph.Output.Add(new ValueInfoProto { Name = "Y", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = TensorData.Float } } });
        return Model(graph);
    }

    private static float[] RunCell(ModelProto model, float[] x, float[] h, long[]? xShape = null, long[]? hShape = null)
    {
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(model.ToByteArray(), options);
        using var runOptions = new RunOptions();
        using var xValue = OrtValue.CreateTensorValueFromMemory(x, xShape ?? [Rows, InputWidth]);
        using var hValue = OrtValue.CreateTensorValueFromMemory(h, hShape ?? [Rows, StateWidth]);
        using var results = session.Run(runOptions, ["x", "h"], [xValue, hValue], ["Y"]);
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>One ref-ar decode step for two streams; returns the logits.</summary>
    private static float[] Step(ModelProto model, float[] state)
    {
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(model.ToByteArray(), options);
        using var runOptions = new RunOptions();
        using var token = OrtValue.CreateTensorValueFromMemory(new long[] { 5, 900 }, [2, 1]);
        using var current = OrtValue.CreateTensorValueFromMemory(state, [RefAr.Layers, 2, RefAr.Width]);
        using var results = session.Run(runOptions, ["token", "state"], [token, current], ["logits"]);
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static ValueInfoProto Unshaped(string name) =>
        new() { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = TensorData.Float } } };

    private static string Describe(Dimension[] shape) =>
        "[" + string.Join(", ", shape.Select(d => d.Symbol ?? d.Value?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?")) + "]";
}
