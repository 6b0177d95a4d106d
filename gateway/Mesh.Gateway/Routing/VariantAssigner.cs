using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Mesh.Gateway.Routing;

/// <summary>
/// Sticky weighted A/B assignment by weighted rendezvous hashing: each (client, variant) pair hashes to a score scaled
/// by the variant's weight, and the client takes the variant with the best score. A client keeps its variant as long as
/// that variant stays; adding, removing or reweighting one variant moves only clients to or from that variant, where
/// splitting one interval by weight would shift the clients of every variant after it.
/// </summary>
public sealed class VariantAssigner
{
    private readonly (string Variant, double Weight)[] _variants;

    /// <param name="weights">Weight per variant; variants with weight 0 are reachable only by override.</param>
    public VariantAssigner(IReadOnlyDictionary<string, double> weights)
    {
        _variants = [.. weights.Where(w => w.Value > 0).OrderBy(w => w.Key, StringComparer.Ordinal).Select(w => (w.Key, w.Value))];
        if (_variants.Length == 0)
        {
            throw new ArgumentException("At least one variant needs a positive weight.", nameof(weights));
        }
    }

    /// <summary>
    /// The weights assignment uses among the <paramref name="available"/> variants: the configured positive ones, or
    /// all alike when none of them is configured. A weight names its variant in any case (an exact match wins):
    /// configuration keys are case-insensitive, and an environment variable such as
    /// <c>Mesh__Variants__Weights__Candidate</c> must not silently miss the variant <c>candidate</c>.
    /// </summary>
    public static Dictionary<string, double> EffectiveWeights(IReadOnlySet<string> available, IReadOnlyDictionary<string, double> configured)
    {
        var weights = available
            .Select(variant => (Variant: variant, Weight: WeightOf(variant, configured)))
            .Where(w => w.Weight > 0)
            .ToDictionary(w => w.Variant, w => w.Weight, StringComparer.Ordinal);
        return weights.Count > 0 ? weights : available.ToDictionary(v => v, _ => 1.0, StringComparer.Ordinal);
    }

    private static double WeightOf(string variant, IReadOnlyDictionary<string, double> configured) =>
        configured.TryGetValue(variant, out var exact)
            ? exact
            : configured.FirstOrDefault(w => string.Equals(w.Key, variant, StringComparison.OrdinalIgnoreCase)).Value;

    public string Assign(string clientId)
    {
        var (best, bestScore) = (_variants[0].Variant, double.PositiveInfinity);
        foreach (var (variant, weight) in _variants)
        {
            // -ln(u)/w is exponentially distributed with rate w, so the smallest wins with probability w / Σw.
            var score = -Math.Log(UnitInterval(clientId, variant)) / weight;
            if (score < bestScore)
            {
                (best, bestScore) = (variant, score);
            }
        }

        return best;
    }

    /// <summary>A well-mixed hash of the pair mapped to (0, 1): the same pair always lands on the same point.</summary>
    private static double UnitInterval(string clientId, string variant)
    {
        var hash = BinaryPrimitives.ReadUInt64LittleEndian(SHA256.HashData(Encoding.UTF8.GetBytes($"{variant}\n{clientId}")));
        return ((hash >> 11) + 0.5) * (1.0 / (1UL << 53));
    }
}
