using System.Text.Json;

namespace Mesh.Backend.ModelFamilies.Piper;

/// <summary>A Piper voice's <c>.onnx.json</c>: the parts synthesis needs (piper1-gpl config.py).</summary>
public sealed class PiperConfig
{
    public const double DefaultNoiseScale = 0.667;
    public const double DefaultLengthScale = 1.0;
    public const double DefaultNoiseW = 0.8;

    public required int SampleRate { get; init; }

    /// <summary>The espeak-ng voice that phonemizes (espeak.voice), e.g. <c>en-us</c>.</summary>
    public string EspeakVoice { get; init; } = "en-us";

    /// <summary><c>espeak</c> (IPA from espeak-ng) or <c>text</c> (the text's own characters are the phonemes).</summary>
    public string PhonemeType { get; init; } = "espeak";

    public required IReadOnlyDictionary<string, long[]> PhonemeIdMap { get; init; }

    /// <summary>Optional phoneme → phonemes replacements applied before the id lookup.</summary>
    public IReadOnlyDictionary<string, string[]> PhonemeMap { get; init; } = new Dictionary<string, string[]>();

    public double NoiseScale { get; init; } = DefaultNoiseScale;

    public double LengthScale { get; init; } = DefaultLengthScale;

    public double NoiseW { get; init; } = DefaultNoiseW;

    public int NumSpeakers { get; init; } = 1;

    /// <summary>Speaker name → id for multi-speaker voices; empty for one speaker.</summary>
    public IReadOnlyDictionary<string, long> SpeakerIdMap { get; init; } = new Dictionary<string, long>();

    public long? DefaultSpeakerId { get; init; }

    public static PiperConfig Load(string path) => Parse(File.ReadAllText(path), path);

    /// <exception cref="InvalidDataException">The JSON lacks what synthesis needs.</exception>
    public static PiperConfig Parse(string json, string source)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            var sampleRate = root.TryGetProperty("audio", out var audio) && audio.TryGetProperty("sample_rate", out var rate)
                ? rate.GetInt32()
                : throw new InvalidDataException($"{source} has no audio.sample_rate.");
            if (!root.TryGetProperty("phoneme_id_map", out var idMap) || idMap.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"{source} has no phoneme_id_map.");
            }

            var inference = root.TryGetProperty("inference", out var i) ? i : default;
            var config = new PiperConfig
            {
                SampleRate = sampleRate > 0 ? sampleRate : throw new InvalidDataException($"{source}: audio.sample_rate must be positive."),
                EspeakVoice = root.TryGetProperty("espeak", out var espeak) && espeak.TryGetProperty("voice", out var voice) ? voice.GetString() ?? "en-us" : "en-us",
                PhonemeType = root.TryGetProperty("phoneme_type", out var type) ? type.GetString() ?? "espeak" : "espeak",
                PhonemeIdMap = idMap.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(v => v.GetInt64()).ToArray()),
                PhonemeMap = root.TryGetProperty("phoneme_map", out var map) && map.ValueKind == JsonValueKind.Object
                    ? map.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(v => v.GetString() ?? string.Empty).ToArray())
                    : new Dictionary<string, string[]>(),
                NoiseScale = Number(inference, "noise_scale", DefaultNoiseScale),
                LengthScale = Number(inference, "length_scale", DefaultLengthScale),
                NoiseW = Number(inference, "noise_w", DefaultNoiseW),
                NumSpeakers = root.TryGetProperty("num_speakers", out var speakers) ? speakers.GetInt32() : 1,
                SpeakerIdMap = root.TryGetProperty("speaker_id_map", out var speakerMap) && speakerMap.ValueKind == JsonValueKind.Object
                    ? speakerMap.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64())
                    : new Dictionary<string, long>(),
                DefaultSpeakerId = root.TryGetProperty("default_speaker_id", out var defaultSpeaker) && defaultSpeaker.ValueKind == JsonValueKind.Number
                    ? defaultSpeaker.GetInt64()
                    : null,
            };
            ValidateSpeakers(config, root.TryGetProperty("num_speakers", out _), source);
            return config;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{source} is not a Piper voice config: {ex.Message}", ex);
        }
    }

    // A speaker id indexes the model's speaker embedding: one outside it passes the load and then fails (or, on a
    // GPU, reads past the table) at every request for that voice. The upper bound is known only when the config states it.
    private static void ValidateSpeakers(PiperConfig config, bool countGiven, string source)
    {
        if (config.NumSpeakers < 1)
        {
            throw new InvalidDataException($"{source}: num_speakers must be at least 1.");
        }

        var limit = countGiven ? config.NumSpeakers : long.MaxValue;
        foreach (var (speaker, id) in config.SpeakerIdMap)
        {
            if (id < 0 || id >= limit)
            {
                throw new InvalidDataException($"{source}: speaker '{speaker}' has id {id}, not one of the model's speakers (0 to num_speakers - 1).");
            }
        }

        if (config.DefaultSpeakerId is { } defaultId && (defaultId < 0 || defaultId >= limit))
        {
            throw new InvalidDataException($"{source}: default_speaker_id {defaultId} is not one of the model's speakers (0 to num_speakers - 1).");
        }
    }

    private static double Number(JsonElement section, string name, double fallback) =>
        section.ValueKind == JsonValueKind.Object && section.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number
            ? value.GetDouble()
            : fallback;
}
