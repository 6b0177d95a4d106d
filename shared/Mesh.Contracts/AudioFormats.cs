namespace Mesh.Contracts;

/// <summary>Response formats and sample rates the API names.</summary>
public static class AudioFormats
{
    public const string Mp3 = "mp3";
    public const string Opus = "opus";
    public const string Aac = "aac";
    public const string Flac = "flac";
    public const string Wav = "wav";
    public const string Pcm = "pcm";

    public static readonly IReadOnlyList<string> All = [Mp3, Opus, Aac, Flac, Wav, Pcm];

    public static readonly IReadOnlyList<int> SampleRates = [8000, 16000, 22050, 24000, 44100, 48000];

    public static string ContentType(string format) => format switch
    {
        Mp3 => "audio/mpeg",
        Opus => "audio/ogg",
        Aac => "audio/aac",
        Flac => "audio/flac",
        Wav => "audio/wav",
        Pcm => "audio/pcm",
        _ => "application/octet-stream",
    };
}

public static class StreamFormats
{
    public const string Audio = "audio";
    public const string Sse = "sse";

    public static readonly IReadOnlyList<string> All = [Audio, Sse];
}

public static class PriorityClasses
{
    public const string Realtime = "realtime";
    public const string Batch = "batch";

    public static readonly IReadOnlyList<string> All = [Realtime, Batch];

    /// <summary>
    /// The error for an <c>X-Priority</c> header that names no class, or null when the header is absent or valid: one
    /// message for the gateway and the backends, on HTTP requests and WebSocket upgrades alike.
    /// </summary>
    public static ApiError? HeaderError(string? header) =>
        header is null || All.Contains(header)
            ? null
            : ApiError.InvalidRequest(
                $"X-Priority '{header}' is not valid; expected one of: {string.Join(", ", All)}.", MeshHeaders.Priority, "invalid_value");
}
