using System.Collections.Frozen;
using Mesh.Backend.ModelFamilies.Espeak;

namespace Mesh.Tests.Backend;

public sealed class EspeakVoicesTests
{
    private static readonly FrozenSet<string> Languages = new[] { "en-us", "en-gb", "en-gb-scotland", "de", "fr-fr", "es", "es-419" }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

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
