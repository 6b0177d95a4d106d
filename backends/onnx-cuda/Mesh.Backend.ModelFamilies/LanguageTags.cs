using System.Collections.Frozen;

namespace Mesh.Backend.ModelFamilies;

/// <summary>Matching a request's BCP 47 language tag against the languages a model speaks.</summary>
public static class LanguageTags
{
    // UN M.49 regions, as CLDR's territoryContainment lists them (common/supplemental/supplementalData.xml, which
    // follows https://unstats.un.org/unsd/methodology/m49/).
    private const string Caribbean = "AG AI AW BB BL BQ BS CU CW DM DO GD GP HT JM KN KY LC MF MQ MS PR SX TC TT VC VG VI";
    private const string CentralAmerica = "BZ CR GT HN MX NI PA SV";
    private const string SouthAmerica = "AR BO BR BV CL CO EC FK GF GS GY PE PY SR UY VE";

    /// <summary>
    /// The macro-regions that occur as region subtags among the models' languages (espeak-ng 1.51's <c>en-029</c> and
    /// <c>es-419</c>, which Piper's voices name too), narrowest first, each with the regions it contains.
    /// </summary>
    private static readonly (string Area, FrozenSet<string> Regions)[] MacroRegions =
    [
        ("029", RegionSet(Caribbean)),
        ("419", RegionSet($"013 {CentralAmerica} 029 {Caribbean} 005 {SouthAmerica}")),
    ];

    /// <summary>
    /// The language of <paramref name="languages"/> that <paramref name="tag"/> selects, case-insensitively, or null.
    /// The tag is cut back subtag by subtag as RFC 4647 §3.4's lookup does (<c>en-AU</c> to <c>en</c>,
    /// <c>en-US-x-foo</c> to <c>en-US</c>), and the first of these ranges that selects a language wins: the range
    /// itself (<c>de-DE</c> finds <c>de</c>), else the languages it is a prefix of (<c>en</c> for <c>en-us</c>,
    /// <c>en-gb</c>, so <c>en-AU</c> finds an English too), else those of a macro-region that contains the range's
    /// region (<c>es-MX</c> finds <c>es-419</c>, as CLDR's parent locales have it, before <c>es</c>): among several,
    /// <paramref name="preferred"/> when it is one of them, the first in ordinal order otherwise, so the answer does not
    /// depend on how the languages are stored.
    /// </summary>
    public static string? Lookup(string tag, IEnumerable<string> languages, string? preferred)
    {
        var available = languages as IReadOnlyCollection<string> ?? languages.ToArray();
        for (var range = tag; range.Length > 0; range = Truncate(range))
        {
            if (available.FirstOrDefault(language => string.Equals(language, range, StringComparison.OrdinalIgnoreCase)) is { } match)
            {
                return match;
            }

            foreach (var broader in ContainingRanges(range).Prepend(range))
            {
                var narrower = available.Where(language => Covers(broader, language)).Order(StringComparer.OrdinalIgnoreCase).ToArray();
                if (narrower.Length > 0)
                {
                    return narrower.FirstOrDefault(language => string.Equals(language, preferred, StringComparison.OrdinalIgnoreCase)) ?? narrower[0];
                }
            }
        }

        return null;
    }

    /// <summary>Whether <paramref name="language"/> is <paramref name="range"/> or a narrower language of it (RFC 4647 §3.3.1's basic filtering).</summary>
    public static bool Covers(string range, string language) =>
        string.Equals(language, range, StringComparison.OrdinalIgnoreCase) ||
        language.StartsWith(range + "-", StringComparison.OrdinalIgnoreCase);

    /// <summary>The range with its last subtag, a region, replaced by each macro-region that contains it (<c>es-MX</c> to <c>es-419</c>).</summary>
    private static IEnumerable<string> ContainingRanges(string range)
    {
        var end = range.LastIndexOf('-');
        if (end < 0)
        {
            return [];
        }

        var region = range[(end + 1)..];
        return MacroRegions.Where(m => m.Regions.Contains(region)).Select(m => $"{range[..end]}-{m.Area}");
    }

    /// <summary>The tag without its last subtag, and without a single-letter subtag (<c>x</c>, an extension) that would end it.</summary>
    private static string Truncate(string tag)
    {
        var end = tag.LastIndexOf('-');
        if (end >= 2 && tag[end - 2] == '-')
        {
            end -= 2;
        }

        return end < 0 ? "" : tag[..end];
    }

    private static FrozenSet<string> RegionSet(string regions) =>
        regions.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToFrozenSet(StringComparer.OrdinalIgnoreCase);
}
