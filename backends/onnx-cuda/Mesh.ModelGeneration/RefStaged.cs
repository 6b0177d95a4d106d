namespace Mesh.ModelGeneration;

/// <summary>
/// A reference two-stage model of Kokoro-like size (about 80 M parameters). <c>encoder.onnx</c>: <c>tokens</c>
/// int64 [1,T] → <c>hidden</c> float32 [1,T,768] and <c>durations</c> int64 [1,T]; the host repeats each token's row
/// by its duration; <c>decoder.onnx</c>: <c>frames</c> float32 [1,F,768] → <c>audio</c> float32 [1,F·600] at 24 kHz.
/// </summary>
public static class RefStaged
{
    public const int Vocabulary = 256;
    public const int EncoderWidth = 768;
    public const int EncoderLayers = 6;
    public const int EncoderInner = 2048;
    public const int DecoderWidth = 1024;
    public const int DecoderLayers = 10;
    public const int DecoderInner = 3072;
    public const int SamplesPerFrame = 600;
    public const int SampleRate = 24000;

    public static long Write(string directory, ulong seed)
    {
        var random = new DeterministicRandom(seed);
        return WriteEncoder(Path.Combine(directory, "encoder.onnx"), random) + WriteDecoder(Path.Combine(directory, "decoder.onnx"), random);
    }

    private static long WriteEncoder(string path, DeterministicRandom random)
    {
        var g = new OnnxGraphBuilder("ref_staged_encoder");
        var tokens = g.Input("tokens", OnnxGraphBuilder.Int64, 1L, "tokens");
        var x = g.Op("Gather", [g.Weight("embedding", random, 1f, Vocabulary, EncoderWidth), g.Op("Squeeze", [tokens, g.Ints(0)])], ("axis", 0L));
        for (var layer = 0; layer < EncoderLayers; layer++)
        {
            x = ResidualBlock(g, random, x, $"encoder{layer}", EncoderWidth, EncoderInner);
        }

        var logit = g.Op("Squeeze", [g.Op("MatMul", [x, g.Weight("duration_proj", random, MathF.Sqrt(3f / EncoderWidth), EncoderWidth, 1)]), g.Ints(1)]);
        var frames = g.Op("Max", [g.Op("Round", [g.Op("Mul", [g.Op("Sigmoid", [logit]), g.Scalar(6f)])]), g.Scalar(1f)]);
        var durations = g.Op("Cast", [frames], ("to", (long)OnnxGraphBuilder.Int64));
        g.OpTo("Unsqueeze", [durations, g.Ints(0)], "durations");
        g.OpTo("Unsqueeze", [x, g.Ints(0)], "hidden");
        g.Output("hidden", OnnxGraphBuilder.Float, 1L, "tokens", (long)EncoderWidth);
        g.Output("durations", OnnxGraphBuilder.Int64, 1L, "tokens");
        ModelFiles.WriteModel(path, g.Build(17, "Generated reference encoder (not speech)."));
        return g.Parameters;
    }

    private static long WriteDecoder(string path, DeterministicRandom random)
    {
        var g = new OnnxGraphBuilder("ref_staged_decoder");
        var frames = g.Input("frames", OnnxGraphBuilder.Float, 1L, "frames", (long)EncoderWidth);
        var y = GraphPatterns.Dense(g, random, g.Op("Squeeze", [frames, g.Ints(0)]), "decoder_in", EncoderWidth, DecoderWidth);
        for (var layer = 0; layer < DecoderLayers; layer++)
        {
            y = ResidualBlock(g, random, y, $"decoder{layer}", DecoderWidth, DecoderInner);
        }

        var audio = GraphPatterns.Dense(g, random, y, "decoder_out", DecoderWidth, SamplesPerFrame);
        g.OpTo("Reshape", [g.Op("Mul", [audio, g.Scalar(0.3f)]), g.Ints(1, -1)], "audio");
        g.Output("audio", OnnxGraphBuilder.Float, 1L, "samples");
        ModelFiles.WriteModel(path, g.Build(17, "Generated reference decoder (not speech)."));
        return g.Parameters;
    }

    /// <summary>tanh(x + relu(x·A)·B): a feed-forward block that keeps activations bounded without normalization.</summary>
    private static string ResidualBlock(OnnxGraphBuilder g, DeterministicRandom random, string x, string name, long width, long inner)
    {
        var a = g.Weight(name + ".up", random, MathF.Sqrt(3f / width), width, inner);
        var b = g.Weight(name + ".down", random, MathF.Sqrt(3f / inner), inner, width);
        var branch = g.Op("MatMul", [g.Op("Relu", [g.Op("MatMul", [x, a])]), b]);
        return g.Op("Tanh", [g.Op("Add", [x, branch])]);
    }
}
