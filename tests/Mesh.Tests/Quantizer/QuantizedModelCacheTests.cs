using Google.Protobuf;
using Mesh.Backend.Quantizer;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using static Mesh.Tests.Quantizer.TinyGraphs;

namespace Mesh.Tests.Quantizer;

/// <summary>The on-disk cache of QUANTIZE=int8: what it hands the engine must load, however the cache was left.</summary>
public sealed class QuantizedModelCacheTests : IDisposable
{
    private const int M = 2, K = 64, N = 64;
    private static readonly QuantizationOptions Exact = new() { AccuracyLevel = 0 };
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("mesh-qcache-");

    private string Cache => Path.Combine(_root.FullName, "cache");

    public void Dispose() => _root.Delete(recursive: true);

    [Fact]
    public void A_graph_with_weights_in_external_files_loads_as_it_is()
    {
        // Y = A · W + C, with C in weights.bin beside the graph: a copy in the cache, or bytes, could not find it.
        var graph = new GraphProto { Name = "external" };
        graph.Input.Add(Value("A", TensorData.Float, M, K));
        graph.Initializer.Add(TensorData.FloatTensor("W", TensorData.Float, Random(K * N, 1, 0.1f), K, N));
        var bias = new TensorProto { Name = "C", DataType = TensorData.Float, DataLocation = TensorProto.Types.DataLocation.External };
        bias.Dims.Add(N);
        bias.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "weights.bin" });
        graph.Initializer.Add(bias);
        graph.Node.Add(Node("MatMul", "mm", ["A", "W"], "P"));
        graph.Node.Add(Node("Add", "add", ["P", "C"], "Y"));
        graph.Output.Add(Value("Y", TensorData.Float, M, N));
        File.WriteAllBytes(Path.Combine(_root.FullName, "weights.bin"), Bytes(Random(N, 2)).ToByteArray());
        var source = Write(Model(graph));

        var prepared = QuantizedModelCache.Prepare(source, Exact, Cache);

        Assert.Contains("external", prepared.NotQuantized, StringComparison.Ordinal);
        Assert.Equal(0, prepared.Summary.Weights);
        using var session = Load(prepared);
        Assert.Equal(["A"], session.InputMetadata.Keys);
    }

    private string Write(ModelProto model, string name = "model.onnx")
    {
        var path = Path.Combine(_root.FullName, name);
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    /// <summary>What the engine loads: the bytes made now, else the cached file, else the source.</summary>
    private static InferenceSession Load(QuantizedGraph prepared) =>
        prepared.Model is { } bytes ? new InferenceSession(bytes) : new InferenceSession(prepared.CachedPath ?? prepared.SourcePath);
}
