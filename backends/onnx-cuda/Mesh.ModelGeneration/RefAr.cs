namespace Mesh.ModelGeneration;

/// <summary>
/// A reference autoregressive decode step standing for the token-by-token decoder of LLM-style TTS: <c>token</c> int64
/// [B,1] and <c>state</c> float32 [24,B,1024] in, <c>logits</c> float32 [B,1024] and <c>next_state</c> float32 [24,B,1024]
/// out, for B streams decoded together (the batch is the only dynamic dimension); 24 recurrent layers of width 1024
/// (about 50 M parameters).
/// </summary>
public static class RefAr
{
    public const int Layers = 24;
    public const int Width = 1024;
    public const int Vocabulary = 1024;

    /// <summary>The symbolic batch dimension: CUDA graphs are captured per batch bucket.</summary>
    public const string Batch = "batch";

    public static long Write(string directory, ulong seed)
    {
        var random = new DeterministicRandom(seed);
        var g = new OnnxGraphBuilder("ref_ar_step");
        var token = g.Input("token", OnnxGraphBuilder.Int64, Batch, 1L);
        var state = g.Input("state", OnnxGraphBuilder.Float, (long)Layers, Batch, (long)Width);

        var x = g.Op("Gather", [g.Weight("embedding", random, 1f, Vocabulary, Width), g.Op("Squeeze", [token, g.Ints(1)])], ("axis", 0L));
        var scale = MathF.Sqrt(3f / (2 * Width));
        var next = new string[Layers];
        for (var layer = 0; layer < Layers; layer++)
        {
            var previous = g.Op("Gather", [state, g.ScalarInt(layer)], ("axis", 0L));
            var input = g.Op("MatMul", [x, g.Weight($"layer{layer}.input", random, scale, Width, Width)]);
            var recurrent = g.Op("MatMul", [previous, g.Weight($"layer{layer}.recurrent", random, scale, Width, Width)]);
            x = g.Op("Tanh", [g.Op("Add", [input, recurrent])]);
            next[layer] = g.Op("Unsqueeze", [x, g.Ints(0)]);
        }

        g.OpTo("Concat", next, "next_state", ("axis", 0L));
        g.OpTo("MatMul", [x, g.Weight("head", random, MathF.Sqrt(3f / Width), Width, Vocabulary)], "logits");
        g.Output("logits", OnnxGraphBuilder.Float, Batch, (long)Vocabulary);
        g.Output("next_state", OnnxGraphBuilder.Float, (long)Layers, Batch, (long)Width);
        ModelFiles.WriteModel(Path.Combine(directory, "step.onnx"), g.Build(17, "Generated reference decode step (not speech)."));
        return g.Parameters;
    }
}
