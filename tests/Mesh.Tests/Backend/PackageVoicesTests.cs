using Mesh.Backend.ModelFamilies;
using Mesh.Backend.ModelFamilies.Onnx;

namespace Mesh.Tests.Backend;

public sealed class PackageVoicesTests
{
    // In the package's order: an OpenAI alias without a language takes the first voice of its gender.
    private static readonly VoiceDescriptor[] Voices =
    [
        new("af_heart", "en-us", "af_heart"),
        new("am_adam", "en-us", "am_adam"),
        new("bf_emma", "en-gb", "bf_emma"),
        new("df_anna", "de", "df_anna"),
    ];

    [Theory]
    [InlineData("af_heart", null, "af_heart")]
    [InlineData("alloy", null, "af_heart")]
    [InlineData("onyx", null, "am_adam")]
    [InlineData("alloy", "en-gb", "bf_emma")]
    [InlineData("alloy", "EN-GB-oxendict", "bf_emma")]
    [InlineData("alloy", "en", "af_heart")]
    [InlineData("alloy", "en-AU", "af_heart")]
    [InlineData("bf_emma", "en", "bf_emma")]
    [InlineData("af_heart", "en-US-x-foo", "af_heart")]
    [InlineData("df_anna", "de-DE", "df_anna")]
    [InlineData("nova", "de-AT", "df_anna")]
    [InlineData("onyx", "de", "df_anna")]
    public void Voices_resolve_by_id_or_alias_in_the_language_looked_up(string voice, string? language, string id)
    {
        Assert.Equal(id, PackageVoices.Resolve(voice, language, Voices, GenderOf)?.Id);
    }

    [Theory]
    [InlineData("nobody", null)]
    [InlineData("nobody", "en")]
    [InlineData("alloy", "xx")]
    [InlineData("df_anna", "en")]
    [InlineData("af_heart", "en-gb")]
    public void Unknown_voices_languages_and_contradictions_resolve_to_nothing(string voice, string? language)
    {
        Assert.Null(PackageVoices.Resolve(voice, language, Voices, GenderOf));
    }

    private static char? GenderOf(VoiceDescriptor voice) => voice.Id[1];
}
