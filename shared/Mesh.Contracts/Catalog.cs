using System.Text.Json.Serialization;

namespace Mesh.Contracts;

/// <summary><c>GET /v1/models</c>, in OpenAI's list shape.</summary>
public sealed record ModelList(
    [property: JsonPropertyName("object")] string Kind,
    [property: JsonPropertyName("data")] IReadOnlyList<ModelInfo> Data);

public sealed record ModelInfo(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("object")] string Kind,
    [property: JsonPropertyName("owned_by")] string OwnedBy,
    [property: JsonPropertyName("family")] string Family,
    [property: JsonPropertyName("sample_rate")] int SampleRate);

/// <summary><c>GET /v1/audio/voices</c>.</summary>
public sealed record VoiceList([property: JsonPropertyName("voices")] IReadOnlyList<VoiceInfo> Voices);

public sealed record VoiceInfo(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("language")] string Language);
