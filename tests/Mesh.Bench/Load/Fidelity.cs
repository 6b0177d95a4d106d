using System.Text.Json.Nodes;

namespace Mesh.Bench.Load;

/// <summary>
/// The fidelity figures of <c>./mesh models compare</c> (<c>snr_db</c>, <c>mel_distance</c>, <c>latency_ratio</c>),
/// read from its JSON: the first object, depth first, that carries any of them.
/// </summary>
public sealed record Fidelity(string Source, double? SnrDb, double? MelDistance, double? LatencyRatio)
{
    private static readonly string[] Fields = ["snr_db", "mel_distance", "latency_ratio"];

    /// <summary>Null with <paramref name="error"/> when the file is missing, not JSON, or has none of the fields.</summary>
    public static Fidelity? Read(string path, out string? error)
    {
        error = null;
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            error = $"--fidelity {path}: {ex.Message}";
            return null;
        }

        if (Find(root) is not { } figures)
        {
            error = $"--fidelity {path}: no object with {string.Join(", ", Fields)}";
            return null;
        }

        return new Fidelity(Path.GetFullPath(path), Number(figures, "snr_db"), Number(figures, "mel_distance"), Number(figures, "latency_ratio"));
    }

    private static JsonObject? Find(JsonNode? node) => node switch
    {
        JsonObject o when Fields.Any(o.ContainsKey) => o,
        JsonObject o => o.Select(p => Find(p.Value)).FirstOrDefault(f => f is not null),
        JsonArray a => a.Select(Find).FirstOrDefault(f => f is not null),
        _ => null,
    };

    private static double? Number(JsonObject figures, string name) =>
        figures[name] is JsonValue value && value.TryGetValue<double>(out var number) ? number : null;
}
