using System.Collections.Frozen;

namespace Mesh.Backend.ModelFamilies.Espeak;

/// <summary>One <c>language</c> line of an espeak-ng voice file, such as Cantonese's <c>language zh 8</c>.</summary>
/// <param name="Tag">A BCP 47 tag the voice speaks.</param>
/// <param name="Priority">How much espeak-ng prefers the voice for the tag: the lowest number wins; 5 where the line gives none.</param>
public readonly record struct EspeakLanguageLine(string Tag, int Priority);

/// <summary>An installed espeak-ng voice: its name, its file (<c>sit/cmn</c>) and its language lines, its primary language first.</summary>
public sealed record InstalledEspeakVoice(string Name, string File, IReadOnlyList<EspeakLanguageLine> Languages);

/// <summary>
/// The languages of espeak-ng's voices. A voice is known by its primary language, the first of its language lines, and
/// answers to the tag of every line (cmn to <c>zh</c> and <c>zh-cmn</c>, nb to <c>no</c>). Another tag several voices
/// name goes to the one espeak-ng itself selects for it: the lowest priority number, then the voice name first in
/// ordinal order, so <c>zh</c> is Mandarin's (5), not Cantonese's (8).
/// </summary>
public sealed class EspeakLanguages
{
    // Tag → the primary languages of the voices that name it, the one espeak-ng prefers first.
    private readonly FrozenDictionary<string, string[]> _speakers;

    public EspeakLanguages(IEnumerable<InstalledEspeakVoice> voices)
    {
        var speaking = voices.Where(voice => voice.Languages.Count > 0).ToArray();
        Primary = speaking.Select(voice => voice.Languages[0].Tag).ToFrozenSet(StringComparer.OrdinalIgnoreCase);
        _speakers = speaking
            .SelectMany(voice => voice.Languages.Select(line => (line.Tag, line.Priority, voice.Name, Language: voice.Languages[0].Tag)))
            .GroupBy(claim => claim.Tag, StringComparer.OrdinalIgnoreCase)
            .ToFrozenDictionary(
                claims => claims.Key,
                claims => claims
                    .OrderBy(claim => claim.Priority)
                    .ThenBy(claim => claim.Name, StringComparer.Ordinal)
                    .Select(claim => claim.Language)
                    .Distinct(StringComparer.OrdinalIgnoreCase)
                    .ToArray(),
                StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>The primary language of every voice (en-us, en-gb, cmn, ...), each voice's name.</summary>
    public FrozenSet<string> Primary { get; }

    /// <summary>
    /// The primary language of the voice that speaks <paramref name="tag"/>, or null. The tag is looked up among every
    /// voice's tags as <see cref="LanguageTags.Lookup"/> does (<c>zh-CN</c> finds <c>zh</c>). The tag it finds is the
    /// voice's whose primary language it is (<c>es</c>, which es-419 names too, is Spain's); another goes to
    /// <paramref name="preferred"/> when that is one of the voices that name it (<c>en</c> to <c>en-us</c>, which names
    /// it with priority 3), else to espeak-ng's choice (<c>en-gb</c>, priority 2).
    /// </summary>
    public string? Find(string tag, string? preferred)
    {
        if (LanguageTags.Lookup(tag, _speakers.Keys, preferred) is not { } found)
        {
            return null;
        }

        if (Primary.TryGetValue(found, out var primary))
        {
            return primary;
        }

        var speakers = _speakers[found];
        return speakers.FirstOrDefault(language => string.Equals(language, preferred, StringComparison.OrdinalIgnoreCase)) ?? speakers[0];
    }
}
