using Mesh.Backend.ModelFamilies.Espeak;

namespace Mesh.Tests.Backend;

public sealed class EspeakVoicesTests
{
    /// <summary>Voices with the language lines of espeak-ng 1.51's files.</summary>
    private static readonly EspeakLanguages Languages = new(
    [
        EspeakLanguagesTests.Voice("English_(America)", "en-us 2", "en 3"),
        EspeakLanguagesTests.Voice("English_(Great_Britain)", "en-gb 2", "en 2"),
        EspeakLanguagesTests.Voice("English_(Scotland)", "en-gb-scotland", "en 4"),
        EspeakLanguagesTests.Voice("German", "de"),
        EspeakLanguagesTests.Voice("French_(France)", "fr-fr", "fr"),
        EspeakLanguagesTests.Voice("French_(Belgium)", "fr-be", "fr 8"),
        EspeakLanguagesTests.Voice("Spanish_(Spain)", "es"),
        EspeakLanguagesTests.Voice("Spanish_(Latin_America)", "es-419", "es-mx 6", "es 6"),
        EspeakLanguagesTests.Voice("Chinese_(Mandarin,_latin_as_English)", "cmn", "zh-cmn", "zh"),
        EspeakLanguagesTests.Voice("Chinese_(Cantonese)", "yue", "zh-yue", "zh 8"),
        EspeakLanguagesTests.Voice("Norwegian_Bokmål", "nb", "no"),
    ]);

    [Theory]
    [InlineData("alloy", null, "en-us+f1")]
    [InlineData("ONYX", null, "en-us+m7")]
    [InlineData("nova", "de", "de+f3")]
    [InlineData("en-gb", null, "en-gb")]
    [InlineData("EN-GB", "en-gb", "en-gb")]
    [InlineData("alloy", "en", "en-us+f1")]
    [InlineData("alloy", "EN-GB", "en-gb+f1")]
    [InlineData("nova", "de-DE", "de+f3")]
    [InlineData("onyx", "fr", "fr-fr+m7")]
    [InlineData("de", "de-DE", "de")]
    [InlineData("de", "DE-AT-1996", "de")]
    [InlineData("en-gb", "en", "en-gb")]
    [InlineData("en-us", "en-US-x-foo", "en-us")]
    [InlineData("alloy", "en-AU", "en-us+f1")]
    [InlineData("alloy", "en-ZZ", "en-us+f1")]
    [InlineData("shimmer", "fr-CA", "fr-fr+f4")]
    [InlineData("en-gb-scotland", "en-GB", "en-gb-scotland")]
    [InlineData("en-gb-scotland", "en", "en-gb-scotland")]
    [InlineData("es-419", "es-MX", "es-419")]
    [InlineData("es-419", "es", "es-419")]
    [InlineData("coral", "es-AR", "es-419+f2")]
    [InlineData("coral", "es-ES", "es+f2")]
    [InlineData("alloy", "fr-BE", "fr-be+f1")]
    [InlineData("alloy", "zh", "cmn+f1")]
    [InlineData("alloy", "ZH-cn", "cmn+f1")]
    [InlineData("alloy", "zh-Hant-TW", "cmn+f1")]
    [InlineData("alloy", "zh-yue-HK", "yue+f1")]
    [InlineData("alloy", "no", "nb+f1")]
    [InlineData("cmn", "zh", "cmn")]
    [InlineData("yue", "zh-HK", "yue")]
    [InlineData("nb", "no-NO", "nb")]
    public void Voices_resolve_to_espeak_specs(string voice, string? language, string spec)
    {
        Assert.Equal(spec, EspeakVoices.Resolve(voice, language, Languages)?.FamilyVoice);
    }

    [Theory]
    [InlineData("nobody", null)]
    [InlineData("../en-us", null)]
    [InlineData("alloy", "xx")]
    [InlineData("en-gb", "de")]
    [InlineData("de", "en")]
    [InlineData("en-gb", "en-us")]
    [InlineData("en-gb-scotland", "en-US")]
    [InlineData("es-419", "es-ES")]
    [InlineData("es", "es-MX")]
    [InlineData("zh", null)]
    [InlineData("cmn", "zh-yue")]
    [InlineData("yue", "cmn")]
    public void Unknown_voices_and_contradictions_resolve_to_nothing(string voice, string? language)
    {
        Assert.Null(EspeakVoices.Resolve(voice, language, Languages));
    }

    [Fact]
    public void Every_openai_voice_name_is_mapped()
    {
        string[] openAi = ["alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse"];

        Assert.All(openAi, name => Assert.True(EspeakVoices.OpenAiAliases.ContainsKey(name), name));
    }
}
