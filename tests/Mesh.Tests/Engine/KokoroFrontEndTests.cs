using Mesh.Backend.ModelFamilies.Espeak;
using Mesh.Backend.ModelFamilies.Kokoro;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Tests.Engine;

public sealed class KokoroFrontEndTests
{
    [Theory]
    [InlineData("həlˈo^ʊ ðˈɛ^ɹ.", "en-us", "həlˈO ðˈɛɹ.")]
    [InlineData("ðə d^ʒˈʌd^ʒ t^ʃˈo^ʊz ɐ bˈo^ʊt.", "en-us", "ðə ʤˈʌʤ ʧˈOz ə bˈOt.")]
    [InlineData("a^ɪ lˈa^ɪk kˈɑː^ɹ, sˌɜː!", "en-us", "I lˈIk kˈɑɹ, sˌɜɹ!")]
    [InlineData("a^ɪ lˈa^ɪk kˈɑː^ɹ", "en-gb", "I lˈIk kˈɑːɹ")]
    [InlineData("həlˈə^ʊ", "en-gb", "həlˈQ")]
    [InlineData("wˌe^ə ɪz ðə hˈe^ə", "en-gb", "wˌɛː ɪz ðə hˈɛː")]
    [InlineData("ðe^əɹ ɪz nˈi^ə", "en-gb", "ðɛːɹ ɪz nˈɪə")]
    [InlineData("ɔ^ɪl nˈo", "en-us", "Yl nˈɔ")]
    [InlineData("bˈʌʔn̩ ɹˈɪʔn̩ bˈʌʔˌn̩", "en-us", "bˈʌtᵊn ɹˈɪtᵊn bˈʌtᵊn")]
    [InlineData("ɛlˈo^ʊ", "fr-fr", "ɛlˈoʊ")]
    public void Espeak_ipa_maps_to_kokoro_symbols_as_misaki_does(string espeak, string language, string kokoro)
    {
        Assert.Equal(kokoro, KokoroTokenizer.ToKokoroPhonemes(espeak, language));
    }

    [Fact]
    public async Task British_voices_get_misakis_square_and_near_vowels_from_espeak()
    {
        var phonemizer = EspeakPhonemizer.Get(NullLogger.Instance);
        var clauses = await phonemizer.PhonemizeAsync("Where is the chair? Near here.", "en-gb", KokoroTokenizer.Tie, CancellationToken.None);
        var kokoro = ClauseText.Sentences(clauses).Select(sentence => KokoroTokenizer.ToKokoroPhonemes(sentence, "en-gb")).ToArray();

        Assert.Equal(["wˌɛːɹ ɪz ðə ʧˈɛː?", "nˌɪə hˈɪə."], kokoro);
    }

    [Fact]
    public void Phonemes_become_vocabulary_ids_and_unknown_symbols_are_dropped()
    {
        Assert.Equal(
            [50, 83, 54, 156, 31, 16, 81, 156, 86, 123, 4],
            KokoroTokenizer.Tokenize("həlˈO ðˈɛɹ.", KokoroTokenizer.Vocabulary));
        Assert.Equal([50, 83], KokoroTokenizer.Tokenize("h#ə", KokoroTokenizer.Vocabulary));
        Assert.Equal(114, KokoroTokenizer.Vocabulary.Count);
    }

    [Fact]
    public void Input_ids_have_a_zero_at_both_ends()
    {
        Assert.Equal([0, 50, 83, 0], KokoroTokenizer.WithPads([50, 83]));
    }

    [Fact]
    public void Long_sentences_split_after_the_last_break_within_510_tokens()
    {
        var ids = Enumerable.Repeat(43L, 600).ToArray();
        ids[300] = 16; // a space
        var pieces = KokoroTokenizer.Split(ids, KokoroTokenizer.Vocabulary);
        Assert.Equal([301, 299], pieces.Select(p => p.Length));

        var unbroken = KokoroTokenizer.Split(Enumerable.Repeat(43L, 1000).ToArray(), KokoroTokenizer.Vocabulary);
        Assert.Equal([510, 490], unbroken.Select(p => p.Length));
        Assert.All(unbroken, p => Assert.True(KokoroTokenizer.WithPads(p).Length <= 512));
    }

    [Theory]
    [InlineData(0, 510, 0)]
    [InlineData(1, 510, 0)]
    [InlineData(2, 510, 1)]
    [InlineData(100, 510, 99)]
    [InlineData(510, 510, 509)]
    [InlineData(511, 510, 509)]
    [InlineData(5000, 510, 509)]
    [InlineData(7, 3, 2)]
    public void Style_row_is_token_count_minus_one_clamped(int tokens, int rows, int row)
    {
        Assert.Equal(row, KokoroTokenizer.StyleRow(tokens, rows));
    }

    [Fact]
    public void A_voice_gives_the_style_row_for_the_utterance_length()
    {
        const int Width = 4;
        var rows = new float[510 * Width];
        for (var r = 0; r < 510; r++)
        {
            rows.AsSpan(r * Width, Width).Fill(r);
        }

        var voice = new KokoroVoice("bf_test", rows, Width);
        Assert.Equal([9f, 9f, 9f, 9f], voice.StyleFor(10));
        Assert.Equal(0f, voice.StyleFor(0)[0]);
        Assert.Equal(509f, voice.StyleFor(2000)[0]);
        Assert.Equal("en-gb", voice.Language);
        Assert.Equal('f', voice.Gender);
    }

    [Theory]
    [InlineData("af_heart", "en-us", 'f')]
    [InlineData("bm_george", "en-gb", 'm')]
    [InlineData("jf_alpha", "ja", 'f')]
    [InlineData("zm_yunjian", "cmn", 'm')]
    [InlineData("af", "en-us", 'f')]
    [InlineData("james", "en-us", null)]
    [InlineData("emma", "en-us", null)]
    [InlineData("heart", "en-us", null)]
    [InlineData("amy", "en-us", null)]
    [InlineData("narrator", "en-us", null)]
    public void Language_and_gender_come_only_from_a_kokoro_style_name(string name, string language, char? gender)
    {
        var voice = new KokoroVoice(name, new float[4], 4);
        Assert.Equal((language, gender), (voice.Language, voice.Gender));
    }
}
