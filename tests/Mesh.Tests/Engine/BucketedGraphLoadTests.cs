using Google.Protobuf;
using Mesh.Backend.Engine;
using Mesh.Backend.Quantizer;
using Microsoft.Extensions.Logging.Abstractions;
using Onnx;
using static Mesh.Tests.Quantizer.TinyGraphs;

namespace Mesh.Tests.Engine;

/// <summary>
/// Packages that bucketed stages cannot run, built as tiny graphs: each fails its load with a reason that names what does
/// not fit, before a run could misuse it.
/// </summary>
public sealed class BucketedGraphLoadTests : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("mesh-bucket-load-");

    public void Dispose() => _root.Delete(recursive: true);

    [Theory]
    [InlineData(TensorData.UInt8, "UInt8")]
    [InlineData(TensorData.String, "String")]
    public void An_element_type_buckets_cannot_hold_fails_the_load_naming_the_tensor_and_type(int elementType, string typeName)
    {
        // The first graph loads; the second fails after it, so the worker disposes the first one's buffers on the way out.
        var identity = new GraphProto { Name = "identity" };
        identity.Input.Add(Symbolic("x", 1, "n"));
        identity.Node.Add(Node("Identity", "copy", ["x"], "y"));
        identity.Output.Add(Symbolic("y", 1, "n"));
        var cast = new GraphProto { Name = "cast" };
        cast.Input.Add(Symbolic("x", 1, "n"));
        cast.Node.Add(Node("Cast", "cast", ["x"], "y", Int("to", elementType)));
        cast.Output.Add(Typed("y", elementType, 1, "n"));
        var settings = EngineSettings.Cpu with { GraphBuckets = GraphBucketing.Parse("encoder.n=2,4;decoder.n=2,4") };

        var error = Assert.Throws<EngineLoadException>(
            () => InferenceEngine.Create("tiny", [Save("encoder", identity), Save("decoder", cast)], settings, null, NullLogger.Instance));
        Assert.Contains($"Graph 'decoder' cannot run on 'n' buckets: output 'y' has element type {typeName}", error.Message, StringComparison.Ordinal);
    }

    private GraphFile Save(string name, GraphProto graph)
    {
        var path = Path.Combine(_root.FullName, name + ".onnx");
        File.WriteAllBytes(path, Model(graph).ToByteArray());
        return new GraphFile(name, path);
    }
}
