namespace Mesh.Backend.ModelFamilies.Piper;

/// <summary>One Piper inference: phoneme ids, [noise_scale, length_scale, noise_w], and the speaker (multi-speaker voices).</summary>
public sealed record PiperUtterance(long[] Ids, float[] Scales, long? SpeakerId);

/// <summary>Piper's front end after phonemization (piper1-gpl phoneme_ids.py, the same as piper-phonemize).</summary>
public static class PiperFrontEnd
{
    public const string Pad = "_";
    public const string Bos = "^";
    public const string Eos = "$";

    /// <summary>
    /// <c>^ _ (phoneme _)* $</c>: each phoneme is one NFD codepoint; phonemes missing from the map are skipped;
    /// no pad after the end marker.
    /// </summary>
    public static long[] ToIds(string phonemes, PiperConfig config)
    {
        ArgumentNullException.ThrowIfNull(phonemes);
        ArgumentNullException.ThrowIfNull(config);
        var map = config.PhonemeIdMap;
        var pad = map.TryGetValue(Pad, out var p) ? p : [0];
        var ids = new List<long>();
        ids.AddRange(map.TryGetValue(Bos, out var bos) ? bos : [1]);
        ids.AddRange(pad);
        foreach (var phoneme in Phonemes(phonemes, config))
        {
            if (map.TryGetValue(phoneme, out var phonemeIds))
            {
                ids.AddRange(phonemeIds);
                ids.AddRange(pad);
            }
        }

        ids.AddRange(map.TryGetValue(Eos, out var eos) ? eos : [2]);
        return [.. ids];
    }

    /// <summary>
    /// The <c>scales</c> input. Piper's speed is its length scale, so a speed of 2 halves the config's length_scale.
    /// </summary>
    public static float[] Scales(PiperConfig config, double speed)
    {
        ArgumentNullException.ThrowIfNull(config);
        return [(float)config.NoiseScale, (float)(config.LengthScale / speed), (float)config.NoiseW];
    }

    /// <summary>
    /// The speaker id for a voice: its id in speaker_id_map, else the config's default speaker, else 0; null for a
    /// model without a <c>sid</c> input.
    /// </summary>
    public static long? SpeakerId(PiperConfig config, string voice, bool modelTakesSpeaker)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (!modelTakesSpeaker)
        {
            return null;
        }

        return config.SpeakerIdMap.TryGetValue(voice, out var id) ? id : config.DefaultSpeakerId ?? 0;
    }

    public static PiperUtterance Utterance(string phonemes, PiperConfig config, string voice, double speed, bool modelTakesSpeaker) =>
        new(ToIds(phonemes, config), Scales(config, speed), SpeakerId(config, voice, modelTakesSpeaker));

    private static IEnumerable<string> Phonemes(string phonemes, PiperConfig config)
    {
        foreach (var rune in LatinDecomposition.Decompose(phonemes).EnumerateRunes())
        {
            var phoneme = rune.ToString();
            if (config.PhonemeMap.TryGetValue(phoneme, out var mapped))
            {
                foreach (var replacement in mapped)
                {
                    yield return replacement;
                }
            }
            else
            {
                yield return phoneme;
            }
        }
    }
}
