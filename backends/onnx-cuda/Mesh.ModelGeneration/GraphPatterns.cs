namespace Mesh.ModelGeneration;

/// <summary>Subgraphs the generated TTS-shaped models share.</summary>
internal static class GraphPatterns
{
    /// <summary>
    /// Repeats row t of <paramref name="hidden"/> [T,D] durations[t] times → [sum(durations), D], in plain ops
    /// (CumSum, Range, a comparison and Gather) so the output length follows the predicted durations as in Kokoro and Piper.
    /// </summary>
    public static string ExpandByDurations(OnnxGraphBuilder g, string hidden, string durations)
    {
        var ends = g.Op("CumSum", [durations, g.ScalarInt(0)]);
        var total = g.Op("ReduceSum", [durations], ("keepdims", 0L));
        var frames = g.Op("Range", [g.ScalarInt(0), total, g.ScalarInt(1)]);
        var framesColumn = g.Op("Unsqueeze", [frames, g.Ints(1)]);
        var endsRow = g.Op("Unsqueeze", [ends, g.Ints(0)]);
        // Frame f belongs to the token whose end is the first one above f: count the ends at or below f.
        var passed = g.Op("Cast", [g.Op("GreaterOrEqual", [framesColumn, endsRow])], ("to", (long)OnnxGraphBuilder.Int64));
        var tokenOfFrame = g.Op("ReduceSum", [passed, g.Ints(1)], ("keepdims", 0L));
        return g.Op("Gather", [hidden, tokenOfFrame], ("axis", 0L));
    }

    /// <summary>tanh(x·W + b) with a generated W [inputs, outputs].</summary>
    public static string Dense(OnnxGraphBuilder g, DeterministicRandom random, string x, string weightName, long inputs, long outputs, string? add = null)
    {
        var w = g.Weight(weightName, random, MathF.Sqrt(3f / inputs), inputs, outputs);
        var product = g.Op("MatMul", [x, w]);
        return g.Op("Tanh", [add is null ? product : g.Op("Add", [product, add])]);
    }
}
