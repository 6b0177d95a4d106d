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

    [Fact]
    public async Task Backends_that_quantize_the_same_graph_at_once_all_cache_it_whole()
    {
        // Backends in containers all run as process 1: they may share a cache volume but never a process id to tell
        // their files apart. Several rounds, since whether two writes overlap is up to the scheduler.
        var source = Write(MatMul(M, 256, 256, Random(256 * 256, 3, 0.1f)));
        var key = QuantizedModelCache.Key(source, Exact);
        for (var round = 0; round < 10; round++)
        {
            var cache = Path.Combine(Cache, round.ToString(System.Globalization.CultureInfo.InvariantCulture));
            using var start = new Barrier(6);
            var prepared = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Factory.StartNew(
                () =>
                {
                    start.SignalAndWait();
                    return QuantizedModelCache.Prepare(source, Exact, cache);
                },
                TaskCreationOptions.LongRunning)));

            Assert.All(prepared, p => Assert.Null(p.CacheProblem));
            Assert.Equal([key + ".json", key + ".onnx"], Directory.GetFiles(cache).Select(Path.GetFileName).Order(StringComparer.Ordinal)); // no stray partial file
            var cached = QuantizedModelCache.Prepare(source, Exact, cache);
            Assert.True(cached.FromCache);
            using var session = Load(cached);
        }
    }

    [Fact]
    public void A_cached_graph_cut_short_is_quantized_again()
    {
        // A crash, a full disk or an older writer can leave the graph shorter than the summary beside it says.
        var source = Write(MatMul(M, K, N, Random(K * N, 4, 0.1f)));
        var first = QuantizedModelCache.Prepare(source, Exact, Cache);
        using (var file = new FileStream(first.CachedPath!, FileMode.Open))
        {
            file.SetLength(file.Length / 2);
        }

        var again = QuantizedModelCache.Prepare(source, Exact, Cache);

        Assert.False(again.FromCache);
        using var session = Load(again);
        Assert.True(QuantizedModelCache.Prepare(source, Exact, Cache).FromCache); // and cached whole again
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
