namespace Mesh.Backend.ModelFamilies;

/// <summary>Matching a request's BCP 47 language tag against the languages a model speaks.</summary>
public static class LanguageTags
{
    /// <summary>
    /// The language of <paramref name="languages"/> that <paramref name="tag"/> selects, case-insensitively, or null.
    /// The tag is cut back subtag by subtag as RFC 4647 §3.4's lookup does (<c>en-AU</c> to <c>en</c>,
    /// <c>en-US-x-foo</c> to <c>en-US</c>), and the first of these ranges that selects a language wins: the range
    /// itself (<c>de-DE</c> finds <c>de</c>), else the languages it is a prefix of (<c>en</c> for <c>en-us</c>,
    /// <c>en-gb</c>, so <c>en-AU</c> finds an English too): <paramref name="preferred"/> when it is one of them, the
    /// first in ordinal order otherwise, so the answer does not depend on how the languages are stored.
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

            var narrower = available.Where(language => Covers(range, language)).Order(StringComparer.OrdinalIgnoreCase).ToArray();
            if (narrower.Length > 0)
            {
                return narrower.FirstOrDefault(language => string.Equals(language, preferred, StringComparison.OrdinalIgnoreCase)) ?? narrower[0];
            }
        }

        return null;
    }

    /// <summary>Whether <paramref name="language"/> is <paramref name="range"/> or a narrower language of it (RFC 4647 §3.3.1's basic filtering).</summary>
    public static bool Covers(string range, string language) =>
        string.Equals(language, range, StringComparison.OrdinalIgnoreCase) ||
        language.StartsWith(range + "-", StringComparison.OrdinalIgnoreCase);

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
}
