using System.Collections.Frozen;
using System.Text.RegularExpressions;

namespace Mesh.Backend.ModelFamilies.Kokoro;

/// <summary>
/// Kokoro's front end after espeak-ng: misaki's espeak fallback mapping to Kokoro's symbols, the symbol → id
/// vocabulary, the 510-token limit, and the choice of the voice's style row.
/// </summary>
public static partial class KokoroTokenizer
{
    /// <summary>Phoneme tokens per inference: the model's context is 512 with the two pads (hexgrad/kokoro model.py).</summary>
    public const int MaxPhonemeTokens = 510;

    /// <summary>Pad, start and end token.</summary>
    public const long Pad = 0;

    /// <summary>Kokoro-82M's vocabulary (config.json "vocab", 114 symbols; ids below 178).</summary>
    public static readonly FrozenDictionary<char, long> Vocabulary = new Dictionary<char, long>
    {
        [';'] = 1,
        [':'] = 2,
        [','] = 3,
        ['.'] = 4,
        ['!'] = 5,
        ['?'] = 6,
        ['—'] = 9,
        ['…'] = 10,
        ['"'] = 11,
        ['('] = 12,
        [')'] = 13,
        ['“'] = 14,
        ['”'] = 15,
        [' '] = 16,
        ['\u0303'] = 17,
        ['ʣ'] = 18,
        ['ʥ'] = 19,
        ['ʦ'] = 20,
        ['ʨ'] = 21,
        ['ᵝ'] = 22,
        ['\uAB67'] = 23,
        ['A'] = 24,
        ['I'] = 25,
        ['O'] = 31,
        ['Q'] = 33,
        ['S'] = 35,
        ['T'] = 36,
        ['W'] = 39,
        ['Y'] = 41,
        ['ᵊ'] = 42,
        ['a'] = 43,
        ['b'] = 44,
        ['c'] = 45,
        ['d'] = 46,
        ['e'] = 47,
        ['f'] = 48,
        ['h'] = 50,
        ['i'] = 51,
        ['j'] = 52,
        ['k'] = 53,
        ['l'] = 54,
        ['m'] = 55,
        ['n'] = 56,
        ['o'] = 57,
        ['p'] = 58,
        ['q'] = 59,
        ['r'] = 60,
        ['s'] = 61,
        ['t'] = 62,
        ['u'] = 63,
        ['v'] = 64,
        ['w'] = 65,
        ['x'] = 66,
        ['y'] = 67,
        ['z'] = 68,
        ['ɑ'] = 69,
        ['ɐ'] = 70,
        ['ɒ'] = 71,
        ['æ'] = 72,
        ['β'] = 75,
        ['ɔ'] = 76,
        ['ɕ'] = 77,
        ['ç'] = 78,
        ['ɖ'] = 80,
        ['ð'] = 81,
        ['ʤ'] = 82,
        ['ə'] = 83,
        ['ɚ'] = 85,
        ['ɛ'] = 86,
        ['ɜ'] = 87,
        ['ɟ'] = 90,
        ['ɡ'] = 92,
        ['ɥ'] = 99,
        ['ɨ'] = 101,
        ['ɪ'] = 102,
        ['ʝ'] = 103,
        ['ɯ'] = 110,
        ['ɰ'] = 111,
        ['ŋ'] = 112,
        ['ɳ'] = 113,
        ['ɲ'] = 114,
        ['ɴ'] = 115,
        ['ø'] = 116,
        ['ɸ'] = 118,
        ['θ'] = 119,
        ['œ'] = 120,
        ['ɹ'] = 123,
        ['ɾ'] = 125,
        ['ɻ'] = 126,
        ['ʁ'] = 128,
        ['ɽ'] = 129,
        ['ʂ'] = 130,
        ['ʃ'] = 131,
        ['ʈ'] = 132,
        ['ʧ'] = 133,
        ['ʊ'] = 135,
        ['ʋ'] = 136,
        ['ʌ'] = 138,
        ['ɣ'] = 139,
        ['ɤ'] = 140,
        ['χ'] = 142,
        ['ʎ'] = 143,
        ['ʒ'] = 147,
        ['ʔ'] = 148,
        ['ˈ'] = 156,
        ['ˌ'] = 157,
        ['ː'] = 158,
        ['ʰ'] = 162,
        ['ʲ'] = 164,
        ['↓'] = 169,
        ['→'] = 171,
        ['↗'] = 172,
        ['↘'] = 173,
        ['ᵻ'] = 177,
    }.ToFrozenDictionary();

    /// <summary>The tie character asked of espeak-ng, so diphthongs and affricates arrive joined (a^ɪ, d^ʒ).</summary>
    public const char Tie = '^';

    // misaki's FROM_ESPEAKS (hexgrad/misaki espeak.py), longest first so a^ɪ wins over its parts. The glottal stop
    // before a syllabic n (button: bˈʌʔn̩) also maps unstressed, as later misaki does: through ʔn and the syllabic rule
    // it would become tᵊᵊn, a schwa too many.
    private static readonly (string From, string To)[] FromEspeak =
    [
        ("ʔˌn\u0329", "tᵊn"), ("ʔn\u0329", "tᵊn"), ("a^ɪ", "I"), ("a^ʊ", "W"), ("d^ʒ", "ʤ"), ("e^ɪ", "A"), ("t^ʃ", "ʧ"), ("ɔ^ɪ", "Y"),
        ("ə^l", "ᵊl"), ("ʔn", "tᵊn"), ("ʲO", "jO"), ("ʲQ", "jQ"), ("\u0303", string.Empty), ("e", "A"), ("r", "ɹ"),
        ("x", "k"), ("ç", "k"), ("ɐ", "ə"), ("ɚ", "əɹ"), ("ɬ", "l"), ("ʔ", "t"), ("ʲ", string.Empty),
    ];

    /// <summary>
    /// espeak-ng IPA (tied with '^') → Kokoro symbols. English follows misaki's espeak fallback for American or
    /// British voices; other languages keep espeak's IPA, as kokoro-onnx does.
    /// </summary>
    public static string ToKokoroPhonemes(string espeakIpa, string language)
    {
        ArgumentNullException.ThrowIfNull(espeakIpa);
        ArgumentNullException.ThrowIfNull(language);
        if (!language.StartsWith("en", StringComparison.OrdinalIgnoreCase))
        {
            return espeakIpa.Replace("^", string.Empty, StringComparison.Ordinal);
        }

        var british = language.Equals("en-gb", StringComparison.OrdinalIgnoreCase);

        // misaki's British ɛː (hair, there) and ɪə (near, here) come first: espeak writes them tied, e^ə and i^ə, so
        // after the general e → A the first read A + ə, and the untied iə → ɪə below never matched the second.
        var ps = british
            ? espeakIpa.Replace("e^ə", "ɛː", StringComparison.Ordinal).Replace("i^ə", "ɪə", StringComparison.Ordinal)
            : espeakIpa;
        foreach (var (from, to) in FromEspeak)
        {
            ps = ps.Replace(from, to, StringComparison.Ordinal);
        }

        // A syllabic consonant (n̩) becomes schwa + consonant.
        ps = SyllabicConsonant().Replace(ps, "ᵊ$1").Replace("\u0329", string.Empty, StringComparison.Ordinal);
        if (british)
        {
            ps = ps.Replace("iə", "ɪə", StringComparison.Ordinal)
                .Replace("ə^ʊ", "Q", StringComparison.Ordinal);
        }
        else
        {
            ps = ps.Replace("o^ʊ", "O", StringComparison.Ordinal)
                .Replace("ɜːɹ", "ɜɹ", StringComparison.Ordinal)
                .Replace("ɜː", "ɜɹ", StringComparison.Ordinal)
                .Replace("ɪə", "iə", StringComparison.Ordinal)
                .Replace("ː", string.Empty, StringComparison.Ordinal);
        }

        // espeak-ng before 1.52 (Debian 12 ships 1.51) writes o where Kokoro was trained on ɔ.
        ps = ps.Replace('o', 'ɔ');
        return ps.Replace("^", string.Empty, StringComparison.Ordinal);
    }

    /// <summary>Symbol ids of <paramref name="phonemes"/>; symbols outside the vocabulary are dropped (kokoro-onnx does the same).</summary>
    public static long[] Tokenize(string phonemes, IReadOnlyDictionary<char, long> vocabulary)
    {
        ArgumentNullException.ThrowIfNull(phonemes);
        ArgumentNullException.ThrowIfNull(vocabulary);
        var ids = new List<long>(phonemes.Length);
        foreach (var symbol in phonemes)
        {
            if (vocabulary.TryGetValue(symbol, out var id))
            {
                ids.Add(id);
            }
        }

        return [.. ids];
    }

    /// <summary>
    /// Splits token ids into pieces of at most <paramref name="max"/>, cutting after the last space or punctuation
    /// that fits (a hard cut only for a run with neither), so long sentences are spoken whole, piece by piece.
    /// </summary>
    public static IReadOnlyList<long[]> Split(long[] ids, IReadOnlyDictionary<char, long> vocabulary, int max = MaxPhonemeTokens)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(vocabulary);
        var breaks = " .,!?;:—…".Where(vocabulary.ContainsKey).Select(c => vocabulary[c]).ToHashSet();
        var pieces = new List<long[]>();
        var start = 0;
        while (ids.Length - start > max)
        {
            var cut = -1;
            for (var i = start + max - 1; i > start; i--)
            {
                if (breaks.Contains(ids[i]))
                {
                    cut = i + 1;
                    break;
                }
            }

            cut = cut > start ? cut : start + max;
            pieces.Add(ids[start..cut]);
            start = cut;
        }

        if (start < ids.Length)
        {
            pieces.Add(ids[start..]);
        }

        return pieces;
    }

    /// <summary><c>[0, ids..., 0]</c>: Kokoro's input_ids.</summary>
    public static long[] WithPads(ReadOnlySpan<long> ids)
    {
        var padded = new long[ids.Length + 2];
        ids.CopyTo(padded.AsSpan(1));
        padded[0] = Pad;
        padded[^1] = Pad;
        return padded;
    }

    /// <summary>
    /// The voice row for an utterance of <paramref name="phonemeTokens"/> tokens (pads not counted): the model
    /// author's reference takes row len-1 (hexgrad/kokoro pipeline.py); clamped to the rows the voice has.
    /// </summary>
    public static int StyleRow(int phonemeTokens, int rows) => Math.Clamp(phonemeTokens - 1, 0, rows - 1);

    [GeneratedRegex(@"(\S)\u0329")]
    private static partial Regex SyllabicConsonant();
}
