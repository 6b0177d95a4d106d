namespace Mesh.ModelGeneration;

/// <summary>
/// A small model with Kokoro-82M's ONNX contract (the onnx-community export read by kokoro.js): inputs
/// <c>input_ids</c> int64 [1,T], <c>style</c> float32 [1,256], <c>speed</c> float32 [1]; outputs <c>waveform</c>
/// float32 [samples] and <c>duration</c> int64 [T]. Durations come from the token ids and the prosody half of the
/// style, are divided by speed, and each frame is 600 samples at 24 kHz, as in Kokoro.
/// </summary>
internal static class KokoroTiny
{
    public const int VocabularySize = 178;
    public const int StyleWidth = 256;
    public const int StyleRows = 510;
    public const int SamplesPerFrame = 600;
    public const float MaxFramesPerToken = 8f;
    public static readonly string[] Voices = ["af_tiny", "am_tiny", "bf_tiny"];

    private const int Hidden = 32;

    public static void Write(string directory, ulong seed)
    {
        var random = new DeterministicRandom(seed);
        var g = new OnnxGraphBuilder("kokoro_tiny");
        var ids = g.Input("input_ids", OnnxGraphBuilder.Int64, 1L, "tokens");
        var style = g.Input("style", OnnxGraphBuilder.Float, 1L, (long)StyleWidth);
        var speed = g.Input("speed", OnnxGraphBuilder.Float, 1L);

        var tokens = g.Op("Squeeze", [ids, g.Ints(0)]);
        var embedding = g.Weight("embedding", random, 1f, VocabularySize, Hidden);
        var embedded = g.Op("Gather", [embedding, tokens], ("axis", 0L));

        // Kokoro's ref_s: the first 128 values are the decoder (timbre) style, the last 128 the prosody style.
        var timbre = g.Op("Slice", [style, g.Ints(0), g.Ints(128), g.Ints(1)]);
        var prosody = g.Op("Slice", [style, g.Ints(128), g.Ints(256), g.Ints(1)]);
        var prosodyBias = g.Op("MatMul", [prosody, g.Weight("prosody_proj", random, 0.1f, 128, Hidden)]);
        var hidden = GraphPatterns.Dense(g, random, embedded, "encoder", Hidden, Hidden, prosodyBias);

        var logit = g.Op("Squeeze", [g.Op("MatMul", [hidden, g.Weight("duration_proj", random, 0.6f, Hidden, 1)]), g.Ints(1)]);
        var frames = g.Op("Div", [g.Op("Mul", [g.Op("Sigmoid", [logit]), g.Scalar(MaxFramesPerToken)]), speed]);
        var rounded = g.Op("Max", [g.Op("Round", [frames]), g.Scalar(1f)]);
        var duration = g.OpTo("Cast", [rounded], "duration", ("to", (long)OnnxGraphBuilder.Int64));

        var expanded = GraphPatterns.ExpandByDurations(g, hidden, duration);
        var timbreBias = g.Op("MatMul", [timbre, g.Weight("timbre_proj", random, 0.05f, 128, SamplesPerFrame)]);
        var audio = GraphPatterns.Dense(g, random, expanded, "decoder", Hidden, SamplesPerFrame, timbreBias);
        g.OpTo("Reshape", [g.Op("Mul", [audio, g.Scalar(0.3f)]), g.Ints(-1)], "waveform");

        g.Output("waveform", OnnxGraphBuilder.Float, "samples");
        g.Output("duration", OnnxGraphBuilder.Int64, "tokens");
        var model = g.Build(17, "Generated kokoro-contract test model (not speech).");
        ModelFiles.WriteModel(Path.Combine(directory, "kokoro-tiny.onnx"), model);

        // voices.bin as kokoro-onnx ships it: an .npz with one float32 [510,1,256] array per voice.
        var voices = Voices.Select((name, i) =>
        {
            var values = new float[StyleRows * StyleWidth];
            new DeterministicRandom(seed + 100 + (ulong)i).Fill(values, 0.5f);
            return (name, values, new[] { StyleRows, 1, StyleWidth });
        });
        Npz.Write(Path.Combine(directory, "voices.bin"), voices);
    }
}
