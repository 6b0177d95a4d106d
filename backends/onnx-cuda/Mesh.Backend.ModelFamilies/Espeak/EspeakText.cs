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

    /// <summary><paramref name="text"/> guarded, in UTF-8 and NUL-terminated, as the library reads it.</summary>
    public static byte[] ToLibraryBytes(string text) => Encoding.UTF8.GetBytes(SplitLongWords(text) + "\0");

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
