using System.Text.Json.Serialization;

namespace Mesh.Contracts;

/// <summary><c>GET /v1/models</c>, in OpenAI's list shape.</summary>
public sealed record ModelList(
    [property: JsonPropertyName("object")] string Kind,
    [property: JsonPropertyName("data")] IReadOnlyList<ModelInfo> Data)
{
    /// <summary>
    /// The list of <paramref name="models"/> ordered by id, as a backend lists its own and the gateway the merge of its
    /// backends', so both answer <c>GET /v1/models</c> alike.
    /// </summary>
    public static ModelList Of(IEnumerable<ModelInfo> models) => new("list", [.. models.OrderBy(m => m.Id, StringComparer.Ordinal)]);

    /// <summary>
    /// The entry <c>GET /v1/models/{id}</c> answers with; ids match as a speech request's <c>model</c> does. A snapshot of
    /// one of OpenAI's names (<see cref="OpenAiModels.AliasOf"/>) is that name's entry under the snapshot's id, as OpenAI
    /// answers it.
    /// </summary>
    public ModelInfo? Find(string id)
    {
        if (FindListed(id) is { } listed)
        {
            return listed;
        }

        return OpenAiModels.AliasOf(id) is { } alias && FindListed(alias) is { } aliased
            ? aliased with { Id = aliased.Id + id[alias.Length..] }
            : null;
    }

    private ModelInfo? FindListed(string id) => Data.FirstOrDefault(m => string.Equals(m.Id, id, StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// One model id. <see cref="Created"/> is when a backend first loaded the model, in Unix seconds; over several backends,
/// the earliest. Beyond OpenAI's fields: how it runs. <see cref="Precision"/> and <see cref="Graphs"/> summarize
/// <see cref="Backends"/> (the one value all of them share, or <c>mixed</c>); absent for a model without an engine
/// (the built-in espeak voice).
/// </summary>
public sealed record ModelInfo(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("object")] string Kind,
    [property: JsonPropertyName("created")] long Created,
    [property: JsonPropertyName("owned_by")] string OwnedBy,
    [property: JsonPropertyName("family")] string Family,
    [property: JsonPropertyName("sample_rate")] int SampleRate,
    [property: JsonPropertyName("precision"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Precision = null,
    [property: JsonPropertyName("graphs"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Graphs = null,
    [property: JsonPropertyName("backends"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<ModelBackendInfo>? Backends = null)
{
    /// <summary>The summary value of backends that disagree.</summary>
    public const string Mixed = "mixed";

    /// <summary>
    /// The rate of this id's <c>pcm</c> from <c>/v1/audio/speech</c> without a <c>sample_rate</c>, which the bytes do not
    /// carry; derived from the id, so a client need not keep its own list of OpenAI's names.
    /// </summary>
    [JsonPropertyName("pcm_sample_rate")]
    public int PcmSampleRate => OpenAiModels.PcmSampleRateOf(Id, SampleRate);

    /// <summary>
    /// One entry per id over several backends' lists: their backends together, what they share, and the earliest
    /// <see cref="Created"/>, which does not depend on the order the backends answered in.
    /// </summary>
    public static ModelInfo Merge(IReadOnlyList<ModelInfo> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var first = entries[0] with { Created = entries.Min(e => e.Created) };
        var backends = entries.SelectMany(e => e.Backends ?? []).ToArray();
        if (backends.Length == 0)
        {
            return first;
        }

        return first with
        {
            Precision = Shared(backends.Select(b => b.Precision)),
            Graphs = Shared(backends.Select(b => b.Graphs)),
            Backends = backends,
        };
    }

    private static string? Shared(IEnumerable<string?> values)
    {
        var distinct = values.Distinct(StringComparer.Ordinal).ToArray();
        return distinct.Length == 1 ? distinct[0] : Mixed;
    }
}

/// <summary>How one backend runs a model: its fleet name and A/B variant, the active provider, weight precision and graph mode.</summary>
public sealed record ModelBackendInfo(
    [property: JsonPropertyName("backend")] string Backend,
    [property: JsonPropertyName("variant")] string Variant,
    [property: JsonPropertyName("provider")] string Provider,
    [property: JsonPropertyName("precision")] string Precision,
    [property: JsonPropertyName("graphs")] string Graphs);

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
