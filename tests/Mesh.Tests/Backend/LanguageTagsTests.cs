using Mesh.Backend.ModelFamilies;

namespace Mesh.Tests.Backend;

public sealed class LanguageTagsTests
{
    private static readonly string[] Languages = ["en-us", "en-gb", "de", "fr-fr", "pt-br", "pt"];

    [Theory]
    [InlineData("en-gb", null, "en-gb")]
    [InlineData("EN-GB", null, "en-gb")]
    [InlineData("de-DE", null, "de")]
    [InlineData("de-Latn-DE-1996", null, "de")]
    [InlineData("en-US-x-foo", null, "en-us")]
    [InlineData("pt-BR-u-ca-gregory", null, "pt-br")]
    [InlineData("pt-PT", null, "pt")]
    [InlineData("en", "en-us", "en-us")]
    [InlineData("en", "en-gb", "en-gb")]
    [InlineData("EN", "de", "en-gb")]
    [InlineData("en", null, "en-gb")]
    [InlineData("fr", null, "fr-fr")]
    [InlineData("fr-CA", null, "fr-fr")]
    [InlineData("en-AU", "en-us", "en-us")]
    [InlineData("en-ZZ", null, "en-gb")]
    public void A_tag_selects_itself_a_broader_language_or_a_narrower_one(string tag, string? preferred, string language)
    {
        Assert.Equal(language, LanguageTags.Lookup(tag, Languages, preferred));
    }

    [Fact]
    public void A_narrower_language_does_not_depend_on_the_order_the_languages_come_in()
    {
        Assert.Equal("en-gb", LanguageTags.Lookup("en", ["en-us", "en-gb"], null));
        Assert.Equal("en-gb", LanguageTags.Lookup("en", ["en-gb", "en-us"], null));
    }

    /// <remarks>espeak-ng's languages with a UN M.49 macro-region: Latin America (419) and the Caribbean (029) within it.</remarks>
    [Theory]
    [InlineData("es-MX", "es-419")]
    [InlineData("ES-ar", "es-419")]
    [InlineData("es-PR", "es-419")]
    [InlineData("es-013", "es-419")]
    [InlineData("es-MX-x-foo", "es-419")]
    [InlineData("es-419", "es-419")]
    [InlineData("es-ES", "es")]
    [InlineData("es", "es")]
    [InlineData("en-JM", "en-029")]
    [InlineData("en-US", "en-us")]
    [InlineData("pt-BR", "pt-br")]
    public void A_country_finds_the_language_of_a_region_that_contains_it(string tag, string language)
    {
        Assert.Equal(language, LanguageTags.Lookup(tag, ["es", "es-419", "en-029", "en-gb", "en-us", "pt", "pt-br"], null));
    }

    [Theory]
    [InlineData("es-MX", "es-mx")]
    [InlineData("es-MX", "es-mx-x-norte")]
    [InlineData("en-JM", "en-029")]
    [InlineData("en-MX", "en-419")]
    public void A_country_finds_itself_or_a_narrower_language_before_its_region_and_the_narrowest_region_first(string tag, string language)
    {
        Assert.Equal(language, LanguageTags.Lookup(tag, ["es-419", "en-419", "en-029", language], null));
    }

    [Theory]
    [InlineData("xx")]
    [InlineData("e")]
    [InlineData("eng")]
    [InlineData("x-en")]
    [InlineData("../en-us")]
    public void A_tag_no_language_matches_selects_nothing(string tag)
    {
        Assert.Null(LanguageTags.Lookup(tag, Languages, "en-us"));
    }
}
