namespace Mesh.Backend.ModelFamilies.Espeak;

/// <summary>How OpenAI's voice names map onto espeak voices and variants, so unmodified OpenAI clients work.</summary>
public static class EspeakVoices
{
    public const string DefaultLanguage = "en-us";

    /// <summary>OpenAI voice name → espeak variant (appended to the language as <c>lang+variant</c>).</summary>
    public static readonly IReadOnlyDictionary<string, string> OpenAiAliases = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["alloy"] = "f1",
        ["ash"] = "m3",
        ["ballad"] = "m2",
        ["coral"] = "f2",
        ["echo"] = "m1",
        ["fable"] = "m4",
        ["onyx"] = "m7",
        ["nova"] = "f3",
        ["sage"] = "f5",
        ["shimmer"] = "f4",
        ["verse"] = "m6",
        ["marin"] = "f2",
        ["cedar"] = "m5",
    };

    /// <summary>
    /// Resolves <paramref name="voice"/> (an OpenAI alias or an espeak language voice such as <c>en-gb</c>) with an
    /// optional <paramref name="language"/>, a BCP 47 tag looked up among the tags espeak's voices speak
    /// (<see cref="EspeakLanguages.Find"/>: <c>de-DE</c> finds <c>de</c>, <c>zh-CN</c> Mandarin's <c>cmn</c>, <c>en</c>
    /// the voice's own English or <see cref="DefaultLanguage"/>); null when either is not one espeak has.
    /// </summary>
    public static VoiceDescriptor? Resolve(string voice, string? language, EspeakLanguages languages)
    {
        if (OpenAiAliases.TryGetValue(voice, out var variant))
        {
            var lang = language is null ? DefaultLanguage : languages.Find(language, DefaultLanguage);
            return lang is null ? null : new VoiceDescriptor(voice.ToLowerInvariant(), lang, $"{lang}+{variant}");
        }

        // A plain espeak language voice, which the language must select or cover (en-GB covers en-gb-scotland); a
        // language that disagrees with it (en-US for en-gb) is a contradiction, not a hint.
        if (languages.Primary.TryGetValue(voice, out var canonical) &&
            (language is null || LanguageTags.Covers(language, canonical) ||
                string.Equals(languages.Find(language, canonical), canonical, StringComparison.OrdinalIgnoreCase)))
        {
            return new VoiceDescriptor(canonical, canonical, canonical);
        }

        return null;
    }
}
