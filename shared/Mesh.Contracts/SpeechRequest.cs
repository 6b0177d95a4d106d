using System.Text.Json.Serialization;

namespace Mesh.Contracts;

/// <summary>The body of <c>POST /v1/audio/speech</c>: OpenAI's fields plus Mesh's.</summary>
public sealed record SpeechRequest
{
    [JsonPropertyName("model")]
    public string? Model { get; init; }

    [JsonPropertyName("input")]
    public string? Input { get; init; }

    [JsonPropertyName("voice")]
    [JsonConverter(typeof(VoiceJsonConverter))]
    public string? Voice { get; init; }

    /// <summary>OpenAI's style instructions: checked as OpenAI checks them, but no model family here takes them.</summary>
    [JsonPropertyName("instructions")]
    public string? Instructions { get; init; }

    [JsonPropertyName("response_format")]
    public string? ResponseFormat { get; init; }

    [JsonPropertyName("speed")]
    public double? Speed { get; init; }

    [JsonPropertyName("stream_format")]
    public string? StreamFormat { get; init; }

    [JsonPropertyName("sample_rate")]
    [JsonConverter(typeof(WholeNumberJsonConverter))]
    public int? SampleRate { get; init; }

    [JsonPropertyName("language")]
    public string? Language { get; init; }

    [JsonPropertyName("priority")]
    public string? Priority { get; init; }
}
