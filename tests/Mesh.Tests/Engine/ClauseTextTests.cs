using Mesh.Backend.ModelFamilies.Espeak;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Tests.Engine;

public sealed class ClauseTextTests
{
    [Theory]
    [InlineData("Hello world, t", false, ",", false)]
    [InlineData("his is a test. H", false, ".", true)]
    [InlineData("ow are you? F", false, "?", true)]
    [InlineData("ine!", true, "!", true)]
    [InlineData("ow... 1", false, "…", false)]
    [InlineData("test.\" H", false, ".", true)]
    [InlineData("I'd like chips; j", false, ";", false)]
    [InlineData("hello", true, "", false)]
    public void Clause_punctuation_comes_from_the_consumed_text(string consumed, bool atEnd, string mark, bool endsSentence)
    {
        Assert.Equal((mark, endsSentence), ClauseText.Punctuation(consumed, atEnd));
    }

    [Fact]
    public void Clauses_join_into_sentences_with_their_marks()
    {
        var sentences = ClauseText.Sentences(
        [
            new PhonemeClause("həlˈoʊ wˈɜːld", ",", false),
            new PhonemeClause("ðɪs ɪz ɐ tˈɛst", ".", true),
            new PhonemeClause("hˈaʊ ɑːɹ juː", "?", true),
            new PhonemeClause("fˈaɪn", string.Empty, false),
        ]);
        Assert.Equal(["həlˈoʊ wˈɜːld, ðɪs ɪz ɐ tˈɛst.", "hˈaʊ ɑːɹ juː?", "fˈaɪn"], sentences);
    }

    [Fact]
    public async Task Espeak_phonemizes_clause_by_clause_with_punctuation()
    {
        var phonemizer = EspeakPhonemizer.Get(NullLogger.Instance);
        var clauses = await phonemizer.PhonemizeAsync("Hello world, this is a test. How are you?", "en-us", null, CancellationToken.None);
        Assert.Equal(["həlˈoʊ wˈɜːld, ðɪs ɪz ɐ tˈɛst.", "hˈaʊ ɑːɹ juː?"], ClauseText.Sentences(clauses));
    }

    [Fact]
    public async Task Espeak_ties_phonemes_and_takes_languages_that_are_no_voice_name()
    {
        var phonemizer = EspeakPhonemizer.Get(NullLogger.Instance);
        var us = await phonemizer.PhonemizeAsync("Hello there.", "en-us", '^', CancellationToken.None);
        Assert.Equal("həlˈo^ʊ ðˈɛ^ɹ.", ClauseText.Sentences(us).Single());

        // espeak-ng 1.51 has no voice named en-gb; the language selects the British voice.
        var gb = await phonemizer.PhonemizeAsync("Hello.", "en-gb", '^', CancellationToken.None);
        Assert.Equal("həlˈə^ʊ.", ClauseText.Sentences(gb).Single());

        await Assert.ThrowsAsync<InvalidOperationException>(() => phonemizer.PhonemizeAsync("Hello.", "xx-nowhere", null, CancellationToken.None));
    }
}
