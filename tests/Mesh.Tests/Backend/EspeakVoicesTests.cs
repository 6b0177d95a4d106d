using System.Collections.Frozen;
using Mesh.Backend.ModelFamilies.Espeak;

namespace Mesh.Tests.Backend;

public sealed class EspeakVoicesTests
{
    private static readonly FrozenSet<string> Languages = new[] { "en-us", "en-gb", "de", "fr-fr" }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    [Theory]
    [InlineData("alloy", null, "en-us+f1")]
    [InlineData("ONYX", null, "en-us+m7")]
    [InlineData("nova", "de", "de+f3")]
    [InlineData("en-gb", null, "en-gb")]
    [InlineData("EN-GB", "en-gb", "en-gb")]
    public void Voices_resolve_to_espeak_specs(string voice, string? language, string spec)
    {
        Assert.Equal(spec, EspeakVoices.Resolve(voice, language, Languages)?.FamilyVoice);
    }

    [Theory]
    [InlineData("nobody", null)]
    [InlineData("../en-us", null)]
    [InlineData("alloy", "xx")]
    [InlineData("en-gb", "de")]
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
