namespace Mesh.ModelGeneration;

/// <summary>
/// A small model with Piper's ONNX contract (piper_train export_onnx.py): inputs <c>input</c> int64 [1,T],
/// <c>input_lengths</c> int64 [1], <c>scales</c> float32 [3] = [noise_scale, length_scale, noise_w], <c>sid</c>
/// int64 [1]; output <c>output</c> float32 [1,1,1,samples]. Frames per id are ceil(exp(logw)·length_scale) over the
/// first input_lengths ids, 256 samples each, as in Piper; the config is a medium-quality 22.05 kHz voice.
/// </summary>
internal static class PiperTiny
{
    public const string Name = "en_US-tiny-medium";
    public const int SampleRate = 22050;
    public const int HopLength = 256;
    public const int SymbolCount = 256;
    public static readonly string[] Speakers = ["tiny_a", "tiny_b"];

    private const int Hidden = 32;

    // Piper's reserved ids (pad, bos, eos), then punctuation, letters and the IPA symbols espeak-ng emits.
    private const string Symbols =
        "_^$ !'(),-.:;?abcdefghijklmnopqrstuvwxyz" +
        "ɑɐɒæɓʙβɔɕçɗɖðʤəɘɚɛɜɝɞɟʄɡɠɢʛɦɧħɥʜɨɪʝɭɬɫɮʟɱɯɰŋɳɲɴøɵɸθœɶʘɹɺɾɻʀʁɽʂʃʈʧʉʊʋⱱʌɣɤʍχʎʏʑʐʒʔʡʕʢǀǁǂǃˈˌːˑʼʴʰʱʲʷˠˤ˞↓↑→↗↘ᵻ" +
        "\u0303\u0329\u032a\u0361";

    public static void Write(string directory, ulong seed)
    {
        var random = new DeterministicRandom(seed);
        var g = new OnnxGraphBuilder("piper_tiny");
        var input = g.Input("input", OnnxGraphBuilder.Int64, 1L, "phonemes");
        var lengths = g.Input("input_lengths", OnnxGraphBuilder.Int64, 1L);
        var scales = g.Input("scales", OnnxGraphBuilder.Float, 3L);
        var sid = g.Input("sid", OnnxGraphBuilder.Int64, 1L);

        var ids = g.Op("Squeeze", [input, g.Ints(0)]);
        var embedded = g.Op("Gather", [g.Weight("embedding", random, 1f, SymbolCount, Hidden), ids], ("axis", 0L));
        var speaker = g.Op("Gather", [g.Weight("speakers", random, 0.5f, Speakers.Length, Hidden), sid], ("axis", 0L));
        var noiseScale = g.Op("Gather", [scales, g.ScalarInt(0)], ("axis", 0L));
        var lengthScale = g.Op("Gather", [scales, g.ScalarInt(1)], ("axis", 0L));
        var noiseW = g.Op("Gather", [scales, g.ScalarInt(2)], ("axis", 0L));

        var conditioning = g.Op("Add", [speaker, g.Op("Mul", [noiseW, g.Scalar(0.1f)])]);
        var hidden = GraphPatterns.Dense(g, random, embedded, "encoder", Hidden, Hidden, conditioning);

        // logw in [-0.5, 1.5]: 1 to 5 frames per id at length_scale 1.
        var projected = g.Op("Squeeze", [g.Op("MatMul", [hidden, g.Weight("duration_proj", random, 0.6f, Hidden, 1)]), g.Ints(1)]);
        var logw = g.Op("Add", [g.Op("Tanh", [projected]), g.Scalar(0.5f)]);
        var frames = g.Op("Ceil", [g.Op("Mul", [g.Op("Exp", [logw]), lengthScale])]);
        // Ids past input_lengths are padding: they get no frames.
        var count = g.Op("Gather", [g.Op("Shape", [ids]), g.ScalarInt(0)], ("axis", 0L));
        var positions = g.Op("Range", [g.ScalarInt(0), count, g.ScalarInt(1)]);
        var valid = g.Op("Cast", [g.Op("Less", [positions, g.Op("Squeeze", [lengths, g.Ints(0)])])], ("to", (long)OnnxGraphBuilder.Float));
        var durations = g.Op("Cast", [g.Op("Mul", [frames, valid])], ("to", (long)OnnxGraphBuilder.Int64));

        var expanded = GraphPatterns.ExpandByDurations(g, hidden, durations);
        var audio = GraphPatterns.Dense(g, random, expanded, "decoder", Hidden, HopLength);
        var gain = g.Op("Add", [g.Scalar(0.3f), g.Op("Mul", [noiseScale, g.Scalar(0.3f)])]);
        g.OpTo("Reshape", [g.Op("Mul", [audio, gain]), g.Ints(1, 1, 1, -1)], "output");
        g.Output("output", OnnxGraphBuilder.Float, 1L, 1L, 1L, "samples");

        var model = g.Build(15, "Generated piper-contract test model (not speech).");
        ModelFiles.WriteModel(Path.Combine(directory, Name + ".onnx"), model);
        ModelFiles.WriteJson(Path.Combine(directory, Name + ".onnx.json"), WriteConfig);
    }

    private static void WriteConfig(System.Text.Json.Utf8JsonWriter json)
    {
        json.WriteStartObject();
        json.WriteString("dataset", "tiny");
        json.WriteStartObject("audio");
        json.WriteNumber("sample_rate", SampleRate);
        json.WriteString("quality", "medium");
        json.WriteEndObject();
        json.WriteStartObject("espeak");
        json.WriteString("voice", "en-us");
        json.WriteEndObject();
        json.WriteStartObject("language");
        json.WriteString("code", "en_US");
        json.WriteEndObject();
        json.WriteStartObject("inference");
        json.WriteNumber("noise_scale", 0.667);
        json.WriteNumber("length_scale", 1.0);
        json.WriteNumber("noise_w", 0.8);
        json.WriteEndObject();
        json.WriteString("phoneme_type", "espeak");
        json.WriteStartObject("phoneme_map");
        json.WriteEndObject();
        json.WriteStartObject("phoneme_id_map");
        var id = 0;
        foreach (var rune in Symbols.EnumerateRunes())
        {
            json.WriteStartArray(rune.ToString());
            json.WriteNumberValue(id++);
            json.WriteEndArray();
        }

        json.WriteEndObject();
        json.WriteNumber("num_symbols", SymbolCount);
        json.WriteNumber("num_speakers", Speakers.Length);
        json.WriteStartObject("speaker_id_map");
        for (var i = 0; i < Speakers.Length; i++)
        {
            json.WriteNumber(Speakers[i], i);
        }

        json.WriteEndObject();
        json.WriteString("piper_version", "1.0.0");
        json.WriteEndObject();
    }

    /// <summary>How many symbols the map holds (must not exceed <see cref="SymbolCount"/>).</summary>
    public static int MappedSymbols => Symbols.EnumerateRunes().Count();
}
