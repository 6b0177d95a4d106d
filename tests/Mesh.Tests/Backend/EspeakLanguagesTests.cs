using System.Globalization;
using Mesh.Backend.ModelFamilies.Espeak;

namespace Mesh.Tests.Backend;

public sealed class EspeakLanguagesTests
{
    [Theory]
    [InlineData("zh", null, "cmn")]
    [InlineData("zh-CN", null, "cmn")]
    [InlineData("zh-yue", null, "yue")]
    [InlineData("zh", "yue", "yue")]
    [InlineData("zh", "de", "cmn")]
    [InlineData("yue", null, "yue")]
    public void A_tag_several_voices_name_goes_to_the_lowest_priority_number_unless_the_preferred_voice_names_it(
        string tag, string? preferred, string language)
    {
        EspeakLanguages languages = new(
        [
            Voice("Chinese_(Cantonese)", "yue", "zh-yue", "zh 8"),
            Voice("German", "de"),
            Voice("Chinese_(Mandarin)", "cmn", "zh-cmn", "zh"),
        ]);

        Assert.Equal(language, languages.Find(tag, preferred));
    }

    [Theory]
    [InlineData("es", "es-419", "es")]
    [InlineData("es-ES", "es-419", "es")]
    [InlineData("es-MX", null, "es-419")]
    [InlineData("es-419", "es", "es-419")]
    public void A_tag_that_is_a_voices_primary_language_is_that_voices_whoever_else_names_it(string tag, string? preferred, string language)
    {
        EspeakLanguages languages = new([Voice("Spanish_(Latin_America)", "es-419", "es-mx 6", "es 6"), Voice("Spanish_(Spain)", "es")]);

        Assert.Equal(language, languages.Find(tag, preferred));
    }

    [Fact]
    public void Of_voices_that_name_a_tag_with_one_priority_the_first_name_in_ordinal_order_wins_as_in_espeak()
    {
        // espeak-ng 1.51's two Mandarin voices both name zh with priority 5.
        var pinyin = Voice("Chinese_(Mandarin,_latin_as_Pinyin)", "cmn-latn-pinyin", "zh-cmn", "zh");
        var english = Voice("Chinese_(Mandarin,_latin_as_English)", "cmn", "zh-cmn", "zh");

        Assert.Equal("cmn", new EspeakLanguages([pinyin, english]).Find("zh", null));
        Assert.Equal("cmn", new EspeakLanguages([english, pinyin]).Find("zh", null));
    }

    [Fact]
    public void Voices_are_known_by_their_primary_language_only()
    {
        EspeakLanguages languages = new([Voice("Norwegian_Bokmål", "nb", "no"), Voice("Chinese_(Cantonese)", "yue", "zh-yue", "zh 8"), Voice("Chinese_(Cantonese,_latin_as_Jyutping)", "yue", "zh-yue", "zh 8")]);

        Assert.Equal(["nb", "yue"], languages.Primary.Order(StringComparer.Ordinal));
        Assert.Null(languages.Find("xx", null));
    }

    /// <summary>A voice from its language lines as its file writes them: a tag, then a priority unless it is 5.</summary>
    public static InstalledEspeakVoice Voice(string name, params string[] lines) =>
        new(name, $"lang/{name}", [.. lines.Select(Line)]);

    private static EspeakLanguageLine Line(string line) =>
        line.Split(' ') is [var tag, var priority]
            ? new EspeakLanguageLine(tag, int.Parse(priority, CultureInfo.InvariantCulture))
            : new EspeakLanguageLine(line, 5);
}
