using System.Globalization;
using System.Text;

namespace Mesh.Backend.Pipeline.Text;

/// <summary>
/// Which characters an engine speaks, by Unicode category: letters, digits, marks and symbols are speech;
/// punctuation, format characters (zero-width space, BOM, a lone joiner) and whitespace are not. Two exceptions
/// follow espeak-ng, measured with libespeak-ng 1.51's en-us voice: the punctuation it reads as a word among words
/// (<c># % &amp; * / @ \ § ¶</c>) is speech, and the symbols it reads as nothing (<c>| ^ ` &lt; &gt;</c>, box drawing,
/// most arrows and math operators, bullets such as <c>◦</c>) are not.
/// </summary>
/// <remarks>
/// How the tables were derived: every Basic Multilingual Plane character of the categories Sm, Sc, Sk and So was
/// phonemized alone (<c>espeak_TextToPhonemes</c>, as <c>espeak-ng -q -x -v en-us</c>), and is silent when that gives
/// no phonemes; every Po character was phonemized between two words ("hello # world") and is read when it adds one.
/// espeak-ng also names a mark that stands alone as the whole text ("exclamation", "colon"), which is no reason to
/// speak a lone <c>!</c>, so only the reading among words counts for punctuation. A few of these symbols are named
/// by other voices (<c>^</c> by 22 of the 130, <c>|</c> by 8), but not as text anyone means to hear. Symbols beyond
/// the BMP (emoji) are speech. <c>SpokenCharactersTests</c> checks both tables against the installed library.
/// </remarks>
internal static class SpokenCharacters
{
    /// <summary>The punctuation (Po) espeak-ng en-us reads as a word among words, but for the sentence terminators.</summary>
    private const string ReadPunctuation = "#%&*/@\\§¶\u055F\u05C0\u0F85\u303D\u30FB\uA673\uA67E\uA6F2";

    /// <summary>
    /// The BMP symbols espeak-ng en-us reads as nothing, as sorted inclusive ranges of code points. A range may span
    /// characters of other categories between two silent symbols: only a symbol is looked up here.
    /// </summary>
    private static readonly (int First, int Last)[] SilentSymbols =
    [
        (0x003C, 0x003C), (0x003E, 0x007C), (0x00A6, 0x00A6), (0x00AF, 0x00AF), (0x00B4, 0x00B8), (0x02C2, 0x02D8),
        (0x02DA, 0x09F3), (0x09FB, 0x0B70), (0x0C7F, 0x2052), (0x20A0, 0x20A7), (0x20AA, 0x20AB), (0x20AD, 0x20B8),
        (0x20BA, 0x2114), (0x2117, 0x2118), (0x211F, 0x2121), (0x2123, 0x218B), (0x219A, 0x21A8), (0x21AB, 0x2201),
        (0x2203, 0x2210), (0x2213, 0x2216), (0x2218, 0x2219), (0x221C, 0x221C), (0x221F, 0x222A), (0x222D, 0x2233),
        (0x2236, 0x2247), (0x2249, 0x225F), (0x2262, 0x2263), (0x2266, 0x2319), (0x231C, 0x2327), (0x232B, 0x23CE),
        (0x23D0, 0x23E8), (0x23F4, 0x23F7), (0x23FB, 0x24B5), (0x2500, 0x259F), (0x25A1, 0x25A9), (0x25AC, 0x25B5),
        (0x25B7, 0x25BF), (0x25C1, 0x25CE), (0x25D0, 0x25FA), (0x25FF, 0x25FF), (0x2605, 0x260D), (0x260F, 0x2610),
        (0x2612, 0x2613), (0x2616, 0x2617), (0x2619, 0x261C), (0x261E, 0x261F), (0x2621, 0x2621), (0x2624, 0x2625),
        (0x2627, 0x2629), (0x262B, 0x262D), (0x2630, 0x2637), (0x263B, 0x263F), (0x2641, 0x2641), (0x2643, 0x2647),
        (0x2654, 0x265E), (0x2661, 0x2662), (0x2664, 0x2664), (0x2667, 0x2667), (0x2669, 0x266C), (0x266E, 0x266E),
        (0x2670, 0x267A), (0x267C, 0x267D), (0x2680, 0x2691), (0x2698, 0x2698), (0x269A, 0x269A), (0x269D, 0x269F),
        (0x26A2, 0x26A9), (0x26AC, 0x26AF), (0x26B2, 0x26BC), (0x26BF, 0x26C3), (0x26C6, 0x26C7), (0x26C9, 0x26CD),
        (0x26D0, 0x26D0), (0x26D2, 0x26D2), (0x26D5, 0x26E8), (0x26EB, 0x26EF), (0x26F6, 0x26F6), (0x26FB, 0x26FC),
        (0x26FE, 0x2701), (0x2703, 0x2704), (0x2706, 0x2707), (0x270E, 0x270E), (0x2710, 0x2711), (0x2713, 0x2713),
        (0x2715, 0x2715), (0x2717, 0x271C), (0x271E, 0x2720), (0x2722, 0x2727), (0x2729, 0x2732), (0x2735, 0x2743),
        (0x2745, 0x2746), (0x2748, 0x274B), (0x274D, 0x274D), (0x274F, 0x2752), (0x2756, 0x2756), (0x2758, 0x2762),
        (0x2765, 0x2794), (0x2798, 0x27A0), (0x27A2, 0x27AF), (0x27B1, 0x27BE), (0x27C0, 0x27FF), (0x2900, 0x2933),
        (0x2936, 0x2B04), (0x2B08, 0x2B1A), (0x2B1D, 0x2B4F), (0x2B51, 0x2B54), (0x2B56, 0x303F), (0xA700, 0xFFFD),
    ];

    /// <summary>Whether an engine speaks <paramref name="rune"/>, alone or among words.</summary>
    public static bool IsSpoken(Rune rune) => Rune.GetUnicodeCategory(rune) switch
    {
        UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
            or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation => false,
        UnicodeCategory.OtherPunctuation => rune.IsBmp && ReadPunctuation.Contains((char)rune.Value, StringComparison.Ordinal),
        UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol
            or UnicodeCategory.OtherSymbol => !IsSilentSymbol(rune.Value),
        UnicodeCategory.Format or UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator
            or UnicodeCategory.ParagraphSeparator or UnicodeCategory.Control => false,
        _ => true,
    };

    private static bool IsSilentSymbol(int codePoint) =>
        SilentSymbols.Any(range => codePoint >= range.First && codePoint <= range.Last);
}
