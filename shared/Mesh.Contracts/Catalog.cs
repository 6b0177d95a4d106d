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

/// <summary><c>GET /v1/mesh/variants</c>: the A/B variants a gateway serves, in OpenAI's list shape.</summary>
public sealed record VariantList(
    [property: JsonPropertyName("object")] string Kind,
    [property: JsonPropertyName("data")] IReadOnlyList<VariantInfo> Data);

/// <param name="Id">The name to send in <c>X-Mesh-Variant</c> to force this variant.</param>
/// <param name="Weight">Share of unforced traffic assigned to it, 0–1; 0 means reachable only when forced.</param>
/// <param name="Pools">The pools (<c>realtime</c>, <c>batch</c>, <c>shared</c>) it has backends in.</param>
/// <param name="ReadyBackends">Its backends whose readiness probe currently passes.</param>
public sealed record VariantInfo(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("weight")] double Weight,
    [property: JsonPropertyName("pools")] IReadOnlyList<string> Pools,
    [property: JsonPropertyName("ready_backends")] int ReadyBackends);
