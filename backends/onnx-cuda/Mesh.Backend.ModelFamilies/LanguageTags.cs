namespace Mesh.Backend.ModelFamilies;

/// <summary>Matching a request's BCP 47 language tag against the languages a model speaks.</summary>
public static class LanguageTags
{
    /// <summary>
    /// The language of <paramref name="languages"/> that <paramref name="tag"/> selects, case-insensitively, or null:
    /// the tag itself; else the tag cut back subtag by subtag as RFC 4647 §3.4's lookup does (<c>de-DE</c> to
    /// <c>de</c>, <c>en-US-x-foo</c> to <c>en-US</c>); else, for a tag broader than any language, the languages it
    /// is a prefix of (<c>en</c> for <c>en-us</c>, <c>en-gb</c>): <paramref name="preferred"/> when it is one of
    /// them, the first in ordinal order otherwise, so the answer does not depend on how the languages are stored.
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
        }

        var narrower = available
            .Where(language => language.StartsWith(tag + "-", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.OrdinalIgnoreCase)
            .ToArray();
        return narrower.FirstOrDefault(language => string.Equals(language, preferred, StringComparison.OrdinalIgnoreCase))
            ?? narrower.FirstOrDefault();
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
}
