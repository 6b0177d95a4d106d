using Mesh.Backend.ModelFamilies.Espeak;

namespace Mesh.Backend.ModelFamilies.Onnx;

/// <summary>Voice lookup for model packages: the package's own names, and OpenAI's names so unmodified clients work.</summary>
public static class PackageVoices
{
    /// <summary>
    /// <paramref name="voice"/> by its id, or an OpenAI alias (alloy, onyx, ...) mapped to the first package voice of
    /// the alias's gender (<paramref name="genderOf"/>: 'f', 'm' or null when unknown), else the first voice. A
    /// <paramref name="language"/> must match the voice's language or be its prefix (<c>en</c> for <c>en-us</c>).
    /// </summary>
    public static VoiceDescriptor? Resolve(
        string voice, string? language, IReadOnlyList<VoiceDescriptor> voices, Func<VoiceDescriptor, char?> genderOf)
    {
        var candidates = voices.Where(v => language is null || SpeaksLanguage(v, language)).ToArray();
        var exact = candidates.FirstOrDefault(v => string.Equals(v.Id, voice, StringComparison.OrdinalIgnoreCase));
        if (exact is not null || !EspeakVoices.OpenAiAliases.TryGetValue(voice, out var variant))
        {
            return exact;
        }

        var gender = variant[0];
        return candidates.FirstOrDefault(v => genderOf(v) == gender) ?? candidates.FirstOrDefault();
    }

    private static bool SpeaksLanguage(VoiceDescriptor voice, string language) =>
        string.Equals(voice.Language, language, StringComparison.OrdinalIgnoreCase) ||
        voice.Language.StartsWith(language + "-", StringComparison.OrdinalIgnoreCase);
}
