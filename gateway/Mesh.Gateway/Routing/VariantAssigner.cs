using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Mesh.Gateway.Routing;

/// <summary>
/// Sticky weighted A/B assignment: a client id is hashed to a point in [0, 1) and the variants' weights partition that
/// interval, so a client keeps its variant as long as the weights do not change.
/// </summary>
public sealed class VariantAssigner
{
    private readonly (string Variant, double UpperBound)[] _ranges;

    /// <param name="weights">Weight per variant; variants with weight 0 are reachable only by override.</param>
    public VariantAssigner(IReadOnlyDictionary<string, double> weights)
    {
        var total = weights.Values.Where(w => w > 0).Sum();
        if (total <= 0)
        {
            throw new ArgumentException("At least one variant needs a positive weight.", nameof(weights));
        }

        var cumulative = 0.0;
        _ranges = [.. weights.Where(w => w.Value > 0).OrderBy(w => w.Key, StringComparer.Ordinal).Select(w => (w.Key, cumulative += w.Value / total))];
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
        var point = UnitInterval(clientId);
        foreach (var (variant, upperBound) in _ranges)
        {
            if (point < upperBound)
            {
                return variant;
            }
        }

        return _ranges[^1].Variant;
    }

    /// <summary>A well-mixed hash mapped to [0, 1): the same id always lands on the same point.</summary>
    private static double UnitInterval(string clientId)
    {
        var hash = BinaryPrimitives.ReadUInt64LittleEndian(SHA256.HashData(Encoding.UTF8.GetBytes(clientId)));
        return (hash >> 11) * (1.0 / (1UL << 53));
    }
}
