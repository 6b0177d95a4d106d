using System.Globalization;
using System.Text;
using Mesh.Backend.ModelFamilies.Espeak;
using Mesh.Backend.Pipeline.Text;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Tests.Backend;

/// <summary>The tables of <see cref="SpokenCharacters"/> against the libespeak-ng installed here, as they were derived.</summary>
public sealed class SpokenCharactersTests
{
    private const string Voice = "en-us";

    [Fact]
    public async Task A_bmp_symbol_is_speech_exactly_when_espeak_reads_it_alone()
    {
        var phonemizer = EspeakPhonemizer.Get(NullLogger.Instance);
        var wrong = new List<string>();
        foreach (var rune in BmpRunes().Where(Rune.IsSymbol))
        {
            var read = await HasPhonemesAsync(phonemizer, rune.ToString());
            if (read != SpokenCharacters.IsSpoken(rune))
            {
                wrong.Add($"U+{rune.Value:X4} {rune} (espeak reads it: {read})");
            }
        }

        Assert.Empty(wrong);
    }

    [Fact]
    public async Task Other_punctuation_is_speech_exactly_when_espeak_reads_it_as_a_word_among_words()
    {
        var phonemizer = EspeakPhonemizer.Get(NullLogger.Instance);
        var words = await CountWordsAsync(phonemizer, "hello world");
        var wrong = new List<string>();
        foreach (var rune in BmpRunes().Where(IsOtherPunctuationButATerminator))
        {
            var read = await CountWordsAsync(phonemizer, $"hello {rune} world") > words;
            if (read != SpokenCharacters.IsSpoken(rune))
            {
                wrong.Add($"U+{rune.Value:X4} {rune} (espeak reads it: {read})");
            }
        }

        Assert.Empty(wrong);
    }

    private static IEnumerable<Rune> BmpRunes() =>
        Enumerable.Range(0x20, 0x10000 - 0x20).Where(Rune.IsValid).Select(value => new Rune(value));

    // A terminator between words ends a sentence, which espeak reads as "dot": the splitter never leaves it so.
    private static bool IsOtherPunctuationButATerminator(Rune rune) =>
        Rune.GetUnicodeCategory(rune) is UnicodeCategory.OtherPunctuation
        && SentenceSplitter.Split($"a{rune} B").Count == 1;

    private static async Task<bool> HasPhonemesAsync(EspeakPhonemizer phonemizer, string text) =>
        (await phonemizer.PhonemizeAsync(text, Voice, null, CancellationToken.None)).Any(clause => clause.Phonemes.Length > 0);

    private static async Task<int> CountWordsAsync(EspeakPhonemizer phonemizer, string text) =>
        (await phonemizer.PhonemizeAsync(text, Voice, null, CancellationToken.None))
            .Sum(clause => clause.Phonemes.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length);
}
