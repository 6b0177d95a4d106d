using System.Collections.Frozen;
using System.Globalization;
using System.Text;

namespace Mesh.Backend.Pipeline.Text;

/// <summary>
/// Splits text into sentences for synthesis. Pure functions over strings: no I/O, no culture data, no mutable state.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="Split"/> returns contiguous slices of <see cref="Normalize"/>(text): concatenated they give that
/// string back exactly, so nothing is dropped or duplicated. Each slice is one sentence followed by the whitespace
/// after it, never starts with whitespace, and is never empty.
/// </para>
/// <para>
/// A sentence ends after a cluster of terminators (<c>. ! ? … ‼ ⁇ ⁈ ⁉ ؟ । ॥</c>) and the closing quotes and
/// brackets attached to it, when whitespace or the end of the text follows and the next word does not continue the
/// sentence:
/// </para>
/// <list type="bullet">
/// <item>a terminator other than a CJK one, followed by anything but whitespace, never ends one (3.14, 2.10.3, $4.99,
/// e.g., U.S.A., https://example.com/a.b?c=d, help@example.com);</item>
/// <item>a next word that starts with a lowercase letter continues the sentence (<c>Wait... what?</c>,
/// <c>"Really?" she asked</c>, <c>5 p.m. on Monday</c>), and so does a next token that is itself a terminator
/// (spaced ellipses); opening quotes and brackets are skipped to find that word;</item>
/// <item>after a single period, the word before it decides: titles (Dr., Mr., Prof., St., …) and e.g., i.e., vs.,
/// cf., a.k.a. never end a sentence; a single capital letter is an initial (<c>J. R. R. Tolkien</c>), as is a short
/// run of dotted capitals (<c>J.R.R.</c>); other known abbreviations (etc., Inc., No., Jan., a.m., p.m., U.S., …)
/// and other dotted ones (two to four groups of up to three letters: <c>a.s.a.p.</c>) end one unless a digit follows
/// (<c>No. 5</c>, <c>Jan. 3rd</c>); a word directly after a digit, a mark or another letter-like character is not
/// an abbreviation;</item>
/// <item>CJK terminators (<c>。！？｡</c> and the full-width period <c>．</c>) end a sentence without whitespace,
/// except a lone full-width period directly followed by a Latin or full-width letter or digit (<c>３．１４</c>);</item>
/// <item>a paragraph break (a blank line) always ends a sentence; a single line break is whitespace.</item>
/// </list>
/// <para>
/// A sentence longer than the maximum length is cut, each piece as long as fits: after the last clause mark
/// (<c>, ; : – —</c> followed by whitespace, <c>—</c> or the full-width <c>，、；：</c> also without), else after the
/// last whitespace, else at the last grapheme boundary that does not separate two word characters, else at the
/// last grapheme boundary, else at the cap itself but never inside a surrogate pair. Lengths count UTF-16 code
/// units of a slice without its trailing whitespace, which is at most <see cref="MaxTrailingWhitespace"/> more.
/// </para>
/// <para>
/// Splitting a slice again gives that slice back (trimmed, as <see cref="Normalize"/> trims), for every
/// <c>maxSentenceLength</c> of at least <see cref="MinimumMaxSentenceLength"/>: a decision depends only on the word
/// before a terminator and on the text after it up to the next word, and no cut separates an abbreviation from its
/// period.
/// </para>
/// </remarks>
public static class SentenceSplitter
{
    public const int DefaultMaxSentenceLength = 300;

    /// <summary>Longer than any word the abbreviation rules recognize (at most 15), so no cut falls inside one.</summary>
    public const int MinimumMaxSentenceLength = 16;

    /// <summary>Whitespace after a sentence is one normalized run: a space, a line break or a paragraph break.</summary>
    public const int MaxTrailingWhitespace = 2;

    private const string ParagraphBreak = "\n\n";

    // Titles precede a name, so their period never ends a sentence. Matched only when capitalized: "5 ft. Then" ends.
    private static readonly FrozenSet<string> Titles = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase,
        "Dr", "Mr", "Mrs", "Ms", "Mx", "Messrs", "Mme", "Mlle", "Prof", "St", "Mt", "Ft", "Rev", "Fr", "Hon", "Gen",
        "Col", "Capt", "Lt", "Cmdr", "Sgt", "Gov", "Sen", "Rep", "Pres", "Supt");

    // Abbreviations that introduce what follows, in any case.
    private static readonly FrozenSet<string> Connectives = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase,
        "e.g", "i.e", "a.k.a", "cf", "vs", "viz", "incl", "approx", "esp", "resp");

    // Abbreviations that can end a sentence, but not when a number follows them.
    private static readonly FrozenSet<string> Abbreviations = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase,
        "etc", "Inc", "Ltd", "Co", "Corp", "Bros", "Jr", "Sr", "No", "Nos", "Nr", "Vol", "Vols", "Fig", "Figs", "Ch",
        "Chap", "Sec", "Art", "Ext", "Tel", "p", "pp", "para", "al", "ca", "est", "dept", "min", "max", "hr", "hrs",
        "Ave", "Blvd", "Rd", "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec",
        "Mon", "Tue", "Tues", "Wed", "Thu", "Thur", "Thurs", "Fri", "Sat", "Sun", "a.m", "p.m", "U.S", "U.K", "U.S.A",
        "E.U", "U.N", "D.C", "Ph.D", "B.A", "M.A", "B.Sc", "M.Sc");

    // Dotted capitals up to this many letters (J.R.R.) are read as initials of a name.
    private const int MaxInitials = 5;

    private enum WordKind
    {
        Plain,
        NeverEnds,
        EndsUnlessNumber,
    }

    /// <summary>
    /// The text <see cref="Split"/> slices: line breaks (CR LF, CR, LF, VT, FF, NEL, LS; PS counts as two) are
    /// unified, every run of whitespace (<see cref="char.IsWhiteSpace(char)"/>) becomes <c>"\n\n"</c> if it holds
    /// two or more line breaks, <c>"\n"</c> if it holds one, and a single space otherwise, and leading and trailing
    /// whitespace is removed. Nothing else changes (no Unicode normalization, no case changes). Idempotent.
    /// </summary>
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);

        var builder = new StringBuilder(text.Length);
        var i = 0;
        while (i < text.Length)
        {
            if (!char.IsWhiteSpace(text[i]))
            {
                builder.Append(text[i]);
                i++;
                continue;
            }

            var lineBreaks = 0;
            for (; i < text.Length && char.IsWhiteSpace(text[i]); i++)
            {
                lineBreaks += LineBreakWeight(text, i);
            }

            if (builder.Length > 0 && i < text.Length)
            {
                builder.Append(lineBreaks switch
                {
                    0 => " ",
                    1 => "\n",
                    _ => ParagraphBreak,
                });
            }
        }

        return builder.Equals(text.AsSpan()) ? text : builder.ToString();
    }

    /// <summary>
    /// Contiguous slices of <see cref="Normalize"/>(<paramref name="text"/>), one sentence each with its trailing
    /// whitespace; <c>string.Concat</c> of the result equals the normalized text. Each slice without its trailing
    /// whitespace is at most <paramref name="maxSentenceLength"/> UTF-16 code units long. Empty for blank text.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxSentenceLength"/> is below
    /// <see cref="MinimumMaxSentenceLength"/>.</exception>
    public static IReadOnlyList<string> Split(string text, int maxSentenceLength = DefaultMaxSentenceLength)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSentenceLength, MinimumMaxSentenceLength);
        return [.. EnumerateSlices(Normalize(text), maxSentenceLength)];
    }

    /// <summary>
    /// The sentences of <see cref="Split"/> without their trailing whitespace, ready to synthesize, but for those with
    /// nothing to speak (<see cref="HasSpeech"/>): an engine makes only a pause of a lone "…" between paragraphs. Found
    /// lazily, one at a time as they are asked for, so the first sentence of a long text is ready as soon as that of a
    /// short one.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxSentenceLength"/> is below
    /// <see cref="MinimumMaxSentenceLength"/>.</exception>
    public static IEnumerable<string> SplitForSynthesis(string text, int maxSentenceLength = DefaultMaxSentenceLength)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSentenceLength, MinimumMaxSentenceLength);
        return EnumerateSlices(Normalize(text), maxSentenceLength).Select(slice => slice.TrimEnd()).Where(IsSpokenSentence);
    }

    /// <summary>
    /// Whether <paramref name="text"/> has something to speak: a sentence with a character an engine reads
    /// (<see cref="SpokenCharacters"/>: letters of any script, digits, emoji, most symbols, and the punctuation read as
    /// a word, <c>% # &amp; @ * /</c>) that is not a scene break of three or more asterisks (<c>* * *</c>, <c>***</c>),
    /// which is a rule as <c>---</c> and <c>___</c> are. Whitespace, punctuation, format characters such as the
    /// zero-width space and symbols espeak-ng reads as nothing (<c>| ^ • ⇒</c>, see there) are not. True exactly when
    /// <see cref="SplitForSynthesis"/> finds a sentence.
    /// </summary>
    public static bool HasSpeech(string text) => SplitForSynthesis(text).Any();

    private static IEnumerable<string> EnumerateSlices(string normalized, int maxSentenceLength)
    {
        var start = 0;
        while (start < normalized.Length)
        {
            var (contentEnd, end) = NextSentence(normalized, start);
            var position = start;
            while (contentEnd - position > maxSentenceLength)
            {
                var cut = FindCut(normalized, position, maxSentenceLength);
                yield return normalized[position..cut];
                position = cut;
            }

            yield return normalized[position..end];
            start = end;
        }
    }

    private static int LineBreakWeight(string text, int i) => text[i] switch
    {
        // CR LF is one line break: count its LF only.
        '\r' => i + 1 < text.Length && text[i + 1] == '\n' ? 0 : 1,
        '\n' or '\v' or '\f' or '\u0085' or '\u2028' => 1,
        '\u2029' => 2,
        _ => 0,
    };

    /// <summary>Where the sentence that starts at <paramref name="start"/> ends, without and with its whitespace.</summary>
    private static (int ContentEnd, int End) NextSentence(string text, int start)
    {
        var i = start;
        while (i < text.Length)
        {
            if (string.CompareOrdinal(text, i, ParagraphBreak, 0, ParagraphBreak.Length) == 0)
            {
                return (i, i + ParagraphBreak.Length);
            }

            if (!IsTerminator(text[i]))
            {
                i++;
                continue;
            }

            var clusterEnd = i;
            while (clusterEnd < text.Length && (IsTerminator(text[clusterEnd]) || IsCloser(text[clusterEnd])))
            {
                clusterEnd++;
            }

            if (EndsSentence(text, i, clusterEnd))
            {
                var end = clusterEnd;
                while (end < text.Length && char.IsWhiteSpace(text[end]))
                {
                    end++;
                }

                return (clusterEnd, end);
            }

            i = clusterEnd;
        }

        return (text.Length, text.Length);
    }

    /// <summary>Whether the terminators and closers in [<paramref name="first"/>, <paramref name="end"/>) end a sentence.</summary>
    private static bool EndsSentence(string text, int first, int end)
    {
        var periods = 0;
        var others = 0;
        for (var i = first; i < end; i++)
        {
            if (IsCjkTerminator(text[i]))
            {
                return !IsFullWidthDecimalPoint(text, first, end);
            }

            if (text[i] == '.')
            {
                periods++;
            }
            else if (IsTerminator(text[i]))
            {
                others++;
            }
        }

        if (end == text.Length)
        {
            return true;
        }

        if (!char.IsWhiteSpace(text[end]))
        {
            return false;
        }

        var next = end;
        while (next < text.Length && char.IsWhiteSpace(text[next]))
        {
            next++;
        }

        if (next - end >= ParagraphBreak.Length)
        {
            return true;
        }

        while (next < text.Length && IsOpener(text[next]))
        {
            next++;
        }

        // Only opening quotes or brackets left: they belong to this sentence, not a new one.
        if (next == text.Length || IsLowercaseAt(text, next) || IsTerminator(text[next]))
        {
            return false;
        }

        if (periods != 1 || others != 0)
        {
            return true;
        }

        return WordBefore(text, first) switch
        {
            WordKind.NeverEnds => false,
            WordKind.EndsUnlessNumber => !IsDigitAt(text, next),
            _ => true,
        };
    }

    /// <summary>What the word directly before the period at <paramref name="period"/> says about it.</summary>
    private static WordKind WordBefore(string text, int period)
    {
        var start = period;
        while (start > 0 && (char.IsLetter(text[start - 1]) || text[start - 1] == '.'))
        {
            start--;
        }

        // Only a word that stands alone is an abbreviation: not one glued to digits, marks or symbols of other kinds
        // (3rd, 10am, café written with a combining accent), nor one that begins with a period.
        if (start == period || text[start] == '.' || (start > 0 && !StartsWord(text[start - 1])))
        {
            return WordKind.Plain;
        }

        var word = text[start..period];
        if (Connectives.Contains(word) || (char.IsUpper(word[0]) && Titles.Contains(word)))
        {
            return WordKind.NeverEnds;
        }

        if (Abbreviations.Contains(word))
        {
            return WordKind.EndsUnlessNumber;
        }

        if (word.Contains('.', StringComparison.Ordinal) || word.Length == 1)
        {
            return IsInitials(word) ? WordKind.NeverEnds
                : IsDotted(word) ? WordKind.EndsUnlessNumber
                : WordKind.Plain;
        }

        return WordKind.Plain;
    }

    /// <summary>J, J.R.R: up to <see cref="MaxInitials"/> capitals separated by single periods.</summary>
    private static bool IsInitials(string word)
    {
        if (word.Length > (2 * MaxInitials) - 1)
        {
            return false;
        }

        for (var i = 0; i < word.Length; i++)
        {
            var expected = i % 2 == 0 ? char.IsUpper(word[i]) : word[i] == '.';
            if (!expected)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Two to four groups of one to three ASCII letters, separated by single periods (a.b.c, Ph.D).</summary>
    private static bool IsDotted(string word)
    {
        var parts = word.Split('.');
        if (parts.Length is < 2 or > 4)
        {
            return false;
        }

        foreach (var part in parts)
        {
            if (part.Length is 0 or > 3 || !part.All(char.IsAsciiLetter))
            {
                return false;
            }
        }

        return true;
    }

    // Looks ahead only: a cut may separate the point from what precedes it, never from what follows.
    private static bool IsFullWidthDecimalPoint(string text, int first, int end) =>
        end - first == 1
        && text[first] == '．'
        && end < text.Length
        && IsLatinOrFullWidthAlphanumeric(text[end]);

    private static bool IsLatinOrFullWidthAlphanumeric(char c) =>
        char.IsAsciiLetterOrDigit(c) || c is (>= '０' and <= '９') or (>= 'Ａ' and <= 'Ｚ') or (>= 'ａ' and <= 'ｚ');

    /// <summary>
    /// Where to cut a sentence piece that starts at <paramref name="start"/> and runs past the cap: the end of the
    /// first piece (after its whitespace), with at most <paramref name="max"/> code units before that whitespace.
    /// </summary>
    private static int FindCut(string text, int start, int max)
    {
        var limit = start + max;

        // After a clause mark: the piece [start, mark] must fit.
        for (var mark = limit - 1; mark > start; mark--)
        {
            var c = text[mark];
            var followedBySpace = char.IsWhiteSpace(text[mark + 1]);
            var isClause = c is ',' or ';' or ':' or '–' or '،'
                ? followedBySpace
                : c is '—' or '，' or '、' or '；' or '：';
            if (isClause)
            {
                return SkipWhitespace(text, mark + 1);
            }
        }

        // After the last whitespace: the piece [start, space) must fit.
        for (var space = limit; space > start; space--)
        {
            if (char.IsWhiteSpace(text[space]))
            {
                return SkipWhitespace(text, space);
            }
        }

        // Inside a run of non-whitespace: at a grapheme boundary, preferably not between two word characters.
        var lastBoundary = -1;
        var lastSoftBoundary = -1;
        for (var i = start; i < limit;)
        {
            i += Math.Max(1, StringInfo.GetNextTextElementLength(text, i));
            if (i > limit)
            {
                break;
            }

            lastBoundary = i;
            if (!(IsWordChar(text[i - 1]) && IsWordChar(text[i])))
            {
                lastSoftBoundary = i;
            }
        }

        if (lastSoftBoundary > start)
        {
            return lastSoftBoundary;
        }

        if (lastBoundary > start)
        {
            return lastBoundary;
        }

        // One grapheme longer than the cap (a base with many marks): cut it, but keep surrogate pairs whole.
        return char.IsLowSurrogate(text[limit]) && char.IsHighSurrogate(text[limit - 1]) ? limit - 1 : limit;
    }

    private static int SkipWhitespace(string text, int i)
    {
        while (i < text.Length && char.IsWhiteSpace(text[i]))
        {
            i++;
        }

        return i;
    }

    /// <summary>Whether a sentence has a character an engine reads, and is not a scene break.</summary>
    private static bool IsSpokenSentence(string sentence) =>
        sentence.EnumerateRunes().Any(SpokenCharacters.IsSpoken) && !IsSceneBreak(sentence);

    /// <summary>
    /// A Markdown thematic break of asterisks (<c>* * *</c>, <c>***</c>), which espeak-ng would read out as "asterisk
    /// asterisk asterisk"; its dashes and underscores are punctuation already. A lone <c>*</c> or <c>**</c> is read.
    /// </summary>
    private static bool IsSceneBreak(string sentence) =>
        sentence.Count(c => c == '*') >= 3 && sentence.All(c => c == '*' || char.IsWhiteSpace(c));

    private static bool IsTerminator(char c) =>
        c is '.' or '!' or '?' or '…' or '‼' or '⁇' or '⁈' or '⁉' or '؟' or '।' or '॥' || IsCjkTerminator(c);

    private static bool IsCjkTerminator(char c) => c is '。' or '！' or '？' or '．' or '｡';

    /// <summary>Closing quotes and brackets that stay with the terminator before them.</summary>
    private static bool IsCloser(char c) =>
        c is '"' or '\''
        || CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.ClosePunctuation
            or UnicodeCategory.FinalQuotePunctuation
            or UnicodeCategory.InitialQuotePunctuation;

    /// <summary>Opening quotes and brackets skipped to find the first word of what follows.</summary>
    private static bool IsOpener(char c) =>
        c is '"' or '\'' or '¿' or '¡'
        || CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.OpenPunctuation
            or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation;

    /// <summary>Characters a cut should not fall between: letters, digits, marks and periods.</summary>
    private static bool IsWordChar(char c) =>
        c is '.' or '．'
        || char.IsLetterOrDigit(c)
        || CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.NonSpacingMark
            or UnicodeCategory.SpacingCombiningMark
            or UnicodeCategory.EnclosingMark;

    /// <summary>Whether a word after this character stands alone: whitespace, punctuation or a symbol.</summary>
    private static bool StartsWord(char c) =>
        (char.IsWhiteSpace(c) || char.IsPunctuation(c) || char.IsSymbol(c)) && !IsWordChar(c);

    private static bool IsLowercaseAt(string text, int i) =>
        Rune.TryGetRuneAt(text, i, out var rune) && Rune.IsLower(rune);

    private static bool IsDigitAt(string text, int i) =>
        Rune.TryGetRuneAt(text, i, out var rune) && Rune.IsDigit(rune);
}
