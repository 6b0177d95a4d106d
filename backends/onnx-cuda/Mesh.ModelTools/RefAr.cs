namespace Mesh.ModelTools;

/// <summary>
/// A reference autoregressive decode step standing for the token-by-token decoder of LLM-style TTS: fixed shapes,
/// <c>token</c> int64 [1,1] and <c>state</c> float32 [24,1,1024] in, <c>logits</c> float32 [1,1024] and
/// <c>next_state</c> float32 [24,1,1024] out; 24 recurrent layers of width 1024 (about 50 M parameters).
/// </summary>
internal static class RefAr
{
    public const int Layers = 24;
    public const int Width = 1024;
    public const int Vocabulary = 1024;

    public static long Write(string directory, ulong seed)
    {
        var random = new DeterministicRandom(seed);
        var g = new OnnxGraphBuilder("ref_ar_step");
        var token = g.Input("token", OnnxGraphBuilder.Int64, 1L, 1L);
        var state = g.Input("state", OnnxGraphBuilder.Float, (long)Layers, 1L, (long)Width);

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
        g.Output("logits", OnnxGraphBuilder.Float, 1L, (long)Vocabulary);
        g.Output("next_state", OnnxGraphBuilder.Float, (long)Layers, 1L, (long)Width);
        ModelFiles.WriteModel(Path.Combine(directory, "step.onnx"), g.Build(17, "Generated reference decode step (not speech)."));
        return g.Parameters;
    }
}
