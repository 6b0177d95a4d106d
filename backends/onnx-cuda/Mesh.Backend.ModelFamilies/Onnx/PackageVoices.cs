using Mesh.Backend.ModelFamilies.Espeak;

namespace Mesh.Backend.ModelFamilies.Onnx;

/// <summary>Voice lookup for model packages: the package's own names, and OpenAI's names so unmodified clients work.</summary>
public static class PackageVoices
{
    /// <summary>
    /// <paramref name="voice"/> by its id, or an OpenAI alias (alloy, onyx, ...) mapped to the first package voice of
    /// the alias's gender (<paramref name="genderOf"/>: 'f', 'm' or null when unknown), else the first voice. A
    /// <paramref name="language"/> is a BCP 47 tag looked up among the package's languages
    /// (<see cref="LanguageTags.Lookup"/>: <c>de-DE</c> finds <c>de</c>, <c>en</c> finds the language of the voice
    /// picked without one, else the first English); the voice must then speak the language found.
    /// </summary>
    public static VoiceDescriptor? Resolve(
        string voice, string? language, IReadOnlyList<VoiceDescriptor> voices, Func<VoiceDescriptor, char?> genderOf)
    {
        IEnumerable<VoiceDescriptor> candidates = voices;
        if (language is not null)
        {
            if (Resolve(voice, null, voices, genderOf) is not { } unconstrained ||
                LanguageTags.Lookup(language, voices.Select(v => v.Language), unconstrained.Language) is not { } spoken)
            {
                return null;
            }

            candidates = voices.Where(v => string.Equals(v.Language, spoken, StringComparison.OrdinalIgnoreCase));
        }

        var exact = candidates.FirstOrDefault(v => string.Equals(v.Id, voice, StringComparison.OrdinalIgnoreCase));
        if (exact is not null || !EspeakVoices.OpenAiAliases.TryGetValue(voice, out var variant))
        {
            return exact;
        }

        var gender = variant[0];
        return candidates.FirstOrDefault(v => genderOf(v) == gender) ?? candidates.FirstOrDefault();
    }
}
