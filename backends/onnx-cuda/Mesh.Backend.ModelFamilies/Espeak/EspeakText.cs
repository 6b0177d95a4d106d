using System.Text;

namespace Mesh.Backend.ModelFamilies.Espeak;

/// <summary>
/// Text as libespeak-ng gets it, for synthesis and phonemization alike: clear of the input classes measured to crash
/// libespeak-ng 1.51 (Debian 1.51+dfsg-10+deb12u2), which runs in the backend's process and takes it down when it does.
/// </summary>
internal static class EspeakText
{
    // The shortest crashing word measured is 135 characters (x and 67 's); 100 keeps German compounds (some 80) whole.
    private const int MaxWordLength = 100;

    // Braille patterns are read as "braille" and their dots' numbers, which the long number words of some voices overflow.
    private const char BrailleFirst = '\u2800';
    private const char BrailleLast = '\u28FF';
    private const char BrailleBlank = BrailleFirst;

    // espeak-ng reads a circled small letter as "letter" and its code point in hex, long enough to smash some voices' stack.
    private const char CircledSmallA = '\u24D0';
    private const char CircledSmallZ = '\u24E9';

    /// <summary><paramref name="text"/> guarded, in UTF-8 and NUL-terminated, as the library reads it.</summary>
    public static byte[] ToLibraryBytes(string text) => Encoding.UTF8.GetBytes(SplitLongWords(ReplaceCrashingSymbols(text)) + "\0");

    /// <summary>
    /// Replaces the symbols measured to crash a voice alone (each of 4,446 symbols through each of the 131 voices: ⓜ
    /// in 10 voices, ⣿ in 3, ⣟ and ⣯ in 1, stack smashing or buffer overflow detected): a circled small letter (ⓐ–ⓩ)
    /// by its letter, as Unicode's compatibility form has it, a Braille pattern by the blank one, read "braille".
    /// </summary>
    private static string ReplaceCrashingSymbols(string text)
    {
        if (!text.AsSpan().ContainsAnyInRange(CircledSmallA, BrailleLast))
        {
            return text;
        }

        var replaced = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            switch (c)
            {
                case >= BrailleFirst and <= BrailleLast:
                    replaced.Append(BrailleBlank);
                    break;
                case >= CircledSmallA and <= CircledSmallZ:
                    replaced.Append((char)('a' + (c - CircledSmallA)));
                    break;
                default:
                    replaced.Append(c);
                    break;
            }
        }

        return replaced.ToString();
    }

    /// <summary>
    /// Splits every run of more than <see cref="MaxWordLength"/> characters without whitespace into pieces of at most
    /// that many (a surrogate pair is kept whole). espeak-ng 1.51 appends the phonemes of each suffix it strips from a
    /// word (English's <c>'s</c>) to a 200-byte buffer without a bound (fixed in espeak-ng PR #2495), so a word of 67
    /// or more stacked <c>'s</c> overflows it and aborts the process; a shorter word holds too few suffixes to fill it.
    /// </summary>
    private static string SplitLongWords(string text)
    {
        StringBuilder? guarded = null;
        var wordLength = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c))
            {
                wordLength = 0;
            }
            else if (wordLength >= MaxWordLength && !char.IsLowSurrogate(c))
            {
                guarded ??= new StringBuilder(text.Length + (text.Length / MaxWordLength)).Append(text, 0, i);
                guarded.Append(' ');
                wordLength = 1;
            }
            else
            {
                wordLength++;
            }

            guarded?.Append(c);
        }

        return guarded?.ToString() ?? text;
    }
}
