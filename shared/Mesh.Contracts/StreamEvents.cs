using System.Text.Json.Serialization;

namespace Mesh.Contracts;

/// <summary>OpenAI's SSE event for <c>stream_format: "sse"</c>: a piece of audio in the response format, base64.</summary>
public sealed record SpeechAudioDelta([property: JsonPropertyName("audio")] string Audio)
{
    [JsonPropertyName("type")]
    [JsonPropertyOrder(-1)]
    public string Type { get; init; } = "speech.audio.delta";
}

/// <summary>OpenAI's closing SSE event.</summary>
public sealed record SpeechAudioDone([property: JsonPropertyName("usage")] SpeechUsage Usage)
{
    [JsonPropertyName("type")]
    [JsonPropertyOrder(-1)]
    public string Type { get; init; } = "speech.audio.done";
}

/// <summary>Usage as OpenAI reports it; Mesh counts input characters and output audio samples as tokens.</summary>
public sealed record SpeechUsage(
    [property: JsonPropertyName("input_tokens")] int InputTokens,
    [property: JsonPropertyName("output_tokens")] long OutputTokens,
    [property: JsonPropertyName("total_tokens")] long TotalTokens);

/// <summary>
/// Events of the Mesh streaming surfaces (<c>/v1/audio/speech/stream</c> SSE and the WebSocket): <c>start</c>,
/// <c>sentence</c>, <c>done</c>, <c>error</c>. On SSE a sentence event carries its audio as base64 PCM; on the
/// WebSocket the audio follows it as binary frames.
/// </summary>
public sealed record StreamEvent
{
    public const string Start = "start";
    public const string Sentence = "sentence";
    public const string Done = "done";
    public const string Failure = "error";

    /// <summary>The <c>error</c> event carrying <paramref name="error"/>'s envelope and HTTP status.</summary>
    public static StreamEvent Failed(ApiError error) => new() { Type = Failure, Status = error.Status, Error = error.ToEnvelope().Error };

    [JsonPropertyName("type")]
    public required string Type { get; init; }

    [JsonPropertyName("request_id")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? RequestId { get; init; }

    [JsonPropertyName("index")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Index { get; init; }

    [JsonPropertyName("text")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Text { get; init; }

    /// <summary>Base64 of signed 16-bit little-endian mono PCM (SSE only).</summary>
    [JsonPropertyName("audio")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Audio { get; init; }

    [JsonPropertyName("sample_rate")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? SampleRate { get; init; }

    [JsonPropertyName("sentences")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Sentences { get; init; }

    [JsonPropertyName("audio_seconds")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? AudioSeconds { get; init; }

    /// <summary>
    /// An <c>error</c> event's HTTP status: what the request would have been answered over HTTP, and what
    /// <c>mesh_requests_total</c> counts it as (a WebSocket request has no status line of its own).
    /// </summary>
    [JsonPropertyName("status")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Status { get; init; }

    [JsonPropertyName("error")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ErrorBody? Error { get; init; }
}
