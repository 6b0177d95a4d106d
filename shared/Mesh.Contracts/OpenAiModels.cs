using System.Text.RegularExpressions;

namespace Mesh.Contracts;

/// <summary>OpenAI's speech model names, which every backend serves its model under besides the model's own id.</summary>
public static partial class OpenAiModels
{
    /// <summary>The names listed in <c>GET /v1/models</c>; their dated snapshots are accepted but not listed.</summary>
    public static readonly IReadOnlyList<string> Aliases = ["tts-1", "tts-1-hd", "gpt-4o-mini-tts"];

    /// <summary>OpenAI's <c>pcm</c> is always 24 kHz, and clients written for it play it so without reading a header.</summary>
    public const int PcmSampleRate = 24000;

    /// <summary>
    /// The rate of <c>pcm</c> from OpenAI's speech endpoint, asked without a <c>sample_rate</c>, of a model whose own
    /// rate is <paramref name="nativeSampleRate"/> requested as <paramref name="id"/>: <see cref="PcmSampleRate"/> under
    /// OpenAI's names, the model's own under any other. The one statement of this rule: the backend speaks by it and
    /// <c>GET /v1/models</c> states it, since raw pcm carries no rate a client could read.
    /// </summary>
    public static int PcmSampleRateOf(string id, int nativeSampleRate) => AliasOf(id) is null ? nativeSampleRate : PcmSampleRate;

    /// <summary>
    /// The alias <paramref name="id"/> names, in its listed spelling: the alias itself in any case, or one of OpenAI's
    /// snapshots of it, which add a date (<c>gpt-4o-mini-tts-2025-12-15</c>) or, in the older style, a month and day
    /// (<c>tts-1-1106</c>). Null for any other id. A rule rather than a list, so a snapshot OpenAI adds later works too.
    /// </summary>
    public static string? AliasOf(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        var snapshot = Snapshot().Match(id);
        var name = snapshot.Success ? snapshot.Groups["alias"].Value : id;
        return Aliases.FirstOrDefault(alias => string.Equals(alias, name, StringComparison.OrdinalIgnoreCase));
    }

    [GeneratedRegex(@"^(?<alias>.+)-(?:\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])|(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))$", RegexOptions.CultureInvariant)]
    private static partial Regex Snapshot();
}
