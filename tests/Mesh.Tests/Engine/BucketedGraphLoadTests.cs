using Google.Protobuf;
using Mesh.Backend.Engine;
using Mesh.Backend.Quantizer;
using Microsoft.Extensions.Logging.Abstractions;
using Onnx;
using static Mesh.Tests.Quantizer.TinyGraphs;

namespace Mesh.Tests.Engine;

/// <summary>
/// Packages that bucketed stages cannot run as asked, built as tiny graphs: the engine refuses each with a reason that
/// names what does not fit, before a run could misuse it.
/// </summary>
public sealed class BucketedGraphLoadTests : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("mesh-bucket-load-");

    public void Dispose() => _root.Delete(recursive: true);

    [Theory]
    [InlineData(TensorData.UInt8, "UInt8")]
    [InlineData(TensorData.String, "String")]
    public async Task An_element_type_buckets_cannot_hold_fails_the_load_naming_the_tensor_and_type(int elementType, string typeName)
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

        var error = await Assert.ThrowsAsync<EngineLoadException>(
            () => InferenceEngine.CreateAsync("tiny", [Save("encoder", identity), Save("decoder", cast)], settings, null, NullLogger.Instance, CancellationToken.None));
        Assert.Contains($"Graph 'decoder' cannot run on 'n' buckets: output 'y' has element type {typeName}", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("tokens", "no input has dimension 'tokens'")]
    [InlineData("n", "input 'x' has another dynamic dimension (x float32[?,?])")]
    public async Task Configured_buckets_that_do_not_fit_fail_the_load_with_the_reason(string dimension, string reason)
    {
        var identity = new GraphProto { Name = "batched-identity" };
        identity.Input.Add(Symbolic("x", "batch", "n"));
        identity.Node.Add(Node("Identity", "copy", ["x"], "y"));
        identity.Output.Add(Symbolic("y", "batch", "n"));
        var settings = EngineSettings.Cpu with { GraphBuckets = GraphBucketing.Parse($"encoder.{dimension}=2,4") };

        var error = await Assert.ThrowsAsync<EngineLoadException>(
            () => InferenceEngine.CreateAsync("tiny", [Save("encoder", identity)], settings, null, NullLogger.Instance, CancellationToken.None));
        Assert.Contains($"Graph 'encoder' cannot run on '{dimension}' buckets: {reason}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_decode_loop_needs_one_token_input_along_the_bucketed_dimension_besides_the_state()
    {
        var settings = EngineSettings.Cpu with { GraphBuckets = GraphBucketing.Parse("step.batch=1,2") };
        var speaker = Step("speaker", Typed("token", TensorData.Int64, "batch", 1), Typed("speaker", TensorData.Int64, "batch", 1));
        speaker.Node.Add(Node("Add", "add", ["token", "speaker"], "sum"));
        speaker.Node.Add(Node("Cast", "cast", ["sum"], "logits", Int("to", TensorData.Float)));
        speaker.Output.Add(Symbolic("logits", "batch", 1));
        using (var engine = await InferenceEngine.CreateAsync("tiny", [Save("step", speaker)], settings, null, NullLogger.Instance, CancellationToken.None))
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => engine.RunAsync(StartDecode, CancellationToken.None));
            Assert.Contains("a step takes one input besides the state 'state', and it has 2 (token, speaker)", error.Message, StringComparison.Ordinal);
        }

        var unbatched = Step("unbatched", Typed("token", TensorData.Int64, 1, 1));
        unbatched.Node.Add(Node("Cast", "cast", ["token"], "logits", Int("to", TensorData.Float)));
        unbatched.Output.Add(Symbolic("logits", 1, 1));
        using (var engine = await InferenceEngine.CreateAsync("tiny", [Save("step", unbatched)], settings, null, NullLogger.Instance, CancellationToken.None))
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => engine.RunAsync(StartDecode, CancellationToken.None));
            Assert.Contains("its token input token int64[1,1] has no 'batch' dimension", error.Message, StringComparison.Ordinal);
        }

        static BucketedGraph.DecodeLoop StartDecode(InferenceWorker worker) => ((BucketedGraph)worker.Graph("step")).StartDecode(1);
    }

    /// <summary>A recurrent step: <paramref name="inputs"/> and a state it passes on unchanged; the caller adds the rest.</summary>
    private static GraphProto Step(string name, params ValueInfoProto[] inputs)
    {
        var graph = new GraphProto { Name = name };
        graph.Input.AddRange(inputs);
        graph.Input.Add(Symbolic("state", 2, "batch", 4));
        graph.Node.Add(Node("Identity", "carry", ["state"], "next_state"));
        graph.Output.Add(Symbolic("next_state", 2, "batch", 4));
        return graph;
    }

    /// <summary>Writes <paramref name="graph"/> under its own name, as the package's stage <paramref name="stage"/>.</summary>
    private GraphFile Save(string stage, GraphProto graph)
    {
        var path = Path.Combine(_root.FullName, graph.Name + ".onnx");
        File.WriteAllBytes(path, Model(graph).ToByteArray());
        return new GraphFile(stage, path);
    }
}
