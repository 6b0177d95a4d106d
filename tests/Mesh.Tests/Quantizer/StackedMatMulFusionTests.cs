using Google.Protobuf;
using Mesh.Backend.Engine;
using Mesh.Backend.Quantizer;
using Mesh.ModelGeneration;
using Mesh.Tests.Engine;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using static Mesh.Tests.Quantizer.TinyGraphs;

namespace Mesh.Tests.Quantizer;

[Collection(ReferenceModelsDefinition.Name)]
public sealed class StackedMatMulFusionTests(ReferenceModels models)
{
    private const int Layers = 3, Rows = 2, K = 64, N = 80, MinDimension = 64;

    [Theory]
    [InlineData(new long[] { Layers, Rows, K }, new long[] { Layers, K, N })]
    [InlineData(new long[] { Layers, 2, Rows, K }, new long[] { Layers, 1, K, N })]
    public void Every_slice_of_a_tensor_times_its_own_weight_becomes_one_batched_matmul(long[] sourceShape, long[] stackedShape)
    {
        var model = Slices(sourceShape);
        var state = Random((int)sourceShape.Aggregate((a, b) => a * b), 1);
        var expected = RunSlices(model, state, sourceShape);

        Assert.Equal(Layers, StackedMatMulFusion.Apply(model, MinDimension));

        Assert.Equal(["MatMul", "Gather", "Gather", "Gather"], model.Graph.Node.Select(n => n.OpType));
        var weight = Assert.Single(model.Graph.Initializer, i => i.DataType == TensorData.Float);
        Assert.Equal(stackedShape, weight.Dims);
        Assert.Empty(OnnxModelChecker.Check(model));
        var actual = RunSlices(model, state, sourceShape);
        foreach (var (e, a) in expected.Zip(actual))
        {
            Assert.True(RelativeError(a, [.. e.Select(v => (double)v)]) <= 1e-6);
        }
    }

    [Fact]
    public void Groups_that_miss_a_slice_repeat_one_mix_weights_or_lack_a_fixed_first_dimension_stay_apart()
    {
        var missing = Slices([Layers, Rows, K], indices: [0, 1]);
        var repeated = Slices([Layers, Rows, K], indices: [0, 1, 1]);
        var mixed = Slices([Layers, Rows, K], widths: [N, N, N + 16]);
        var symbolic = Slices([Layers, Rows, K]);
        symbolic.Graph.Input[0] = Symbolic("state", "layers", "batch", K);
        var fedIndex = Slices([Layers, Rows, K]);
        fedIndex.Graph.Input.Add(Value("index2", TensorData.Int64)); // an initializer an input may override is no constant

        foreach (var model in new[] { missing, repeated, mixed, symbolic, fedIndex })
        {
            var before = model.Clone();
            Assert.Equal(0, StackedMatMulFusion.Apply(model, MinDimension));
            Assert.Equal(before, model);
        }

        Assert.Equal(0, StackedMatMulFusion.Apply(Slices([Layers, Rows, K]), K + 1)); // weights below the size floor
        Assert.Equal(0, StackedMatMulFusion.Apply(Slices([1, Rows, K], indices: [0]), MinDimension)); // nothing to stack with
    }

    [Fact]
    public void A_slice_read_elsewhere_keeps_its_gather()
    {
        var model = Slices([Layers, Rows, K]);
        model.Graph.Output.Add(Value("slice0", TensorData.Float, Rows, K));
        var state = Random(Layers * Rows * K, 2);
        var expected = RunSlices(model, state, [Layers, Rows, K]);

        Assert.Equal(Layers, StackedMatMulFusion.Apply(model, MinDimension));

        Assert.Equal(["Gather", "MatMul", "Gather", "Gather", "Gather"], model.Graph.Node.Select(n => n.OpType));
        var actual = RunSlices(model, state, [Layers, Rows, K]);
        Assert.Equal(expected[^1], actual[^1]);
        foreach (var (e, a) in expected.Zip(actual).SkipLast(1))
        {
            Assert.True(RelativeError(a, [.. e.Select(v => (double)v)]) <= 1e-6);
        }
    }

    [Fact]
    public void Ref_ar_stacks_its_state_projections_and_decodes_as_before()
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(models.Ar.Single().Path));
        var stacked = model.Clone();

        Assert.Equal(RefAr.Layers, StackedMatMulFusion.Apply(stacked, QuantizationOptions.DefaultMinDimension));

        Assert.Equal(RefAr.Layers + 2, stacked.Graph.Node.Count(n => n.OpType == "MatMul")); // 24 inputs, the head, the stack
        Assert.Contains(stacked.Graph.Initializer, i => i.Dims.SequenceEqual([RefAr.Layers, RefAr.Width, RefAr.Width]));
        Assert.Empty(OnnxModelChecker.Check(stacked));
        AssertSameStep(model, stacked);
    }

    [Fact]
    public void An_fp32_graph_gets_its_pairs_joined_before_anything_is_stacked()
    {
        // Joined pairs measured faster on the GPU where both apply; stacking takes only the slice products left over.
        var source = models.Ar.Single().Path;

        var fused = MatMulFusions.Prepare(source, QuantizationOptions.DefaultMinDimension);

        Assert.Equal((RefAr.Layers, 0), (fused.JoinedPairs, fused.StackedMatMuls));
        var joined = ModelProto.Parser.ParseFrom(fused.Model);
        Assert.Equal(RefAr.Layers, joined.Graph.Node.Count(n => n.OpType == "Concat" && n.Output[0] != "next_state"));
        AssertSameStep(ModelProto.Parser.ParseFrom(File.ReadAllBytes(source)), joined);

        var slices = Slices([Layers, Rows, K]);
        var path = Path.Combine(Path.GetTempPath(), $"mesh-slices-{Guid.NewGuid():N}.onnx");
        try
        {
            File.WriteAllBytes(path, slices.ToByteArray());
            var onlyStacked = MatMulFusions.Prepare(path, MinDimension);
            Assert.Equal((0, Layers), (onlyStacked.JoinedPairs, onlyStacked.StackedMatMuls));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task The_cpu_provider_keeps_fp32_graphs_as_they_are()
    {
        // It prepacks 2-D constant weights only: a stacked one would be packed again on every run.
        var log = new RecordingLogger();
        using var engine = await InferenceEngine.CreateAsync("ref-ar", models.Ar, EngineSettings.Cpu, null, log, CancellationToken.None);
        Assert.True(EngineSettings.Cpu.FuseMatMuls);
        Assert.Equal(ExecutionProviderKind.Cpu, engine.Provider.Active);
        Assert.DoesNotContain(log.Lines, l => l.Contains("FUSE_MATMULS", StringComparison.Ordinal));
    }

    [Fact]
    public void A_graph_with_weights_in_external_files_is_left_as_exported()
    {
        // Loaded from bytes, it could no longer find them beside its file.
        var model = Slices([Layers, Rows, K]);
        var table = TensorData.FloatTensor("table", TensorData.Float, [], 0);
        table.RawData = Google.Protobuf.ByteString.Empty;
        table.DataLocation = TensorProto.Types.DataLocation.External;
        table.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "weights.bin" });
        model.Graph.Initializer.Add(table);
        var path = Path.Combine(Path.GetTempPath(), $"mesh-external-{Guid.NewGuid():N}.onnx");
        try
        {
            File.WriteAllBytes(path, model.ToByteArray());
            Assert.Equal(new FusedGraph(null, 0, 0), MatMulFusions.Prepare(path, MinDimension));
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Y_i = Gather(state, i) · W_i for each listed index, each a graph output; W_i is [K, widths[i]].</summary>
    private static ModelProto Slices(long[] sourceShape, long[]? indices = null, int[]? widths = null)
    {
        indices ??= [-1, 0, 1]; // -1 is the last slice
        var graph = new GraphProto { Name = "slices" };
        graph.Input.Add(Value("state", TensorData.Float, sourceShape));
        for (var i = 0; i < indices.Length; i++)
        {
            var width = widths?[i] ?? N;
            graph.Initializer.Add(Int64s($"index{i}", [], indices[i]));
            graph.Initializer.Add(TensorData.FloatTensor($"W{i}", TensorData.Float, Random(K * width, 10 + i, 0.1f), K, width));
            graph.Node.Add(Node("Gather", $"gather{i}", ["state", $"index{i}"], $"slice{i}", Int("axis", 0)));
            graph.Node.Add(Node("MatMul", $"matmul{i}", [$"slice{i}", $"W{i}"], $"Y{i}"));
            graph.Output.Add(new ValueInfoProto { Name = $"Y{i}", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = TensorData.Float } } });
        }

        // Slices first, then products: the stacked MatMul must land after the source and before every slice it feeds.
        var ordered = graph.Node.OrderBy(n => n.OpType == "MatMul").ToList();
        graph.Node.Clear();
        graph.Node.AddRange(ordered);
        return Model(graph);
    }

    private static List<float[]> RunSlices(ModelProto model, float[] state, long[] shape)
    {
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(model.ToByteArray(), options);
        using var runOptions = new RunOptions();
        using var value = OrtValue.CreateTensorValueFromMemory(state, shape);
        var names = model.Graph.Output.Select(o => o.Name).ToArray();
        using var results = session.Run(runOptions, ["state"], [value], names);
        return [.. results.Select(r => r.GetTensorDataAsSpan<float>().ToArray())];
    }

    private static void AssertSameStep(ModelProto expectedModel, ModelProto actualModel)
    {
        var state = Random(RefAr.Layers * 2 * RefAr.Width, 5, 0.5f);
        foreach (var (e, a) in Step(expectedModel, state).Zip(Step(actualModel, state)))
        {
            Assert.True(RelativeError(a, [.. e.Select(v => (double)v)]) <= 1e-5);
        }
    }

    /// <summary>One ref-ar decode step for two streams; returns the logits and the next state.</summary>
    private static float[][] Step(ModelProto model, float[] state)
    {
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(model.ToByteArray(), options);
        using var runOptions = new RunOptions();
        using var token = OrtValue.CreateTensorValueFromMemory(new long[] { 5, 900 }, [2, 1]);
        using var current = OrtValue.CreateTensorValueFromMemory(state, [RefAr.Layers, 2, RefAr.Width]);
        using var results = session.Run(runOptions, ["token", "state"], [token, current], ["logits", "next_state"]);
        return [.. results.Select(r => r.GetTensorDataAsSpan<float>().ToArray())];
    }
}
