using System.Globalization;

namespace Mesh.Backend.Engine;

/// <summary>
/// One stage's shape buckets: every input with the symbolic dimension <see cref="Dimension"/> is padded along it to the
/// smallest of <see cref="Sizes"/> that holds the request, so the stage runs on a few fixed shapes with fixed buffers (and,
/// with <c>CUDA_GRAPHS=true</c>, one captured graph per bucket); outputs are trimmed back to the request.
/// </summary>
/// <param name="Graph">The stage: the graph's name in its package (<c>encoder</c>, <c>decoder</c>, <c>step</c>).</param>
/// <param name="Dimension">The symbolic dimension the export declares (<c>tokens</c>, <c>frames</c>, <c>batch</c>).</param>
/// <param name="Sizes">Bucket sizes, ascending.</param>
public sealed record GraphBucketing(string Graph, string Dimension, IReadOnlyList<int> Sizes)
{
    /// <summary>
    /// What <c>CUDA_GRAPHS=true</c> buckets when <c>CUDA_GRAPH_BUCKETS</c> is not set: the stages of the staged and
    /// autoregressive packages, where they declare these dimensions. A sentence is rarely over 256 tokens; frames follow at
    /// a few per token; the batch is the number of streams decoded together.
    /// </summary>
    public static IReadOnlyList<GraphBucketing> Defaults { get; } =
    [
        new("encoder", "tokens", [16, 32, 64, 128, 256, 512]),
        new("decoder", "frames", [64, 128, 256, 512, 1024, 2048]),
        new("step", "batch", [1, 2, 4, 8, 16]),
    ];

    public int Largest => Sizes[^1];

    /// <summary>The smallest bucket that holds <paramref name="length"/>, or -1 when none does.</summary>
    public int BucketFor(long length)
    {
        foreach (var size in Sizes)
        {
            if (length <= size)
            {
                return size;
            }
        }

        return -1;
    }

    /// <summary>
    /// Why a graph with <paramref name="signature"/> cannot run on these buckets, or null when it can: some input must
    /// declare <see cref="Dimension"/>, and no input another dynamic dimension (a bucket fixes every shape).
    /// </summary>
    internal string? Misfit(ModelSignature signature)
    {
        if (signature.Inputs.All(i => i.AxisOf(Dimension) < 0))
        {
            return $"no input has dimension '{Dimension}' ({signature})";
        }

        var loose = signature.Inputs.FirstOrDefault(i => Enumerable.Range(0, i.Rank).Any(a => i.Shape[a] < 0 && i.Symbols[a] != Dimension));
        return loose is null ? null : $"input '{loose.Name}' has another dynamic dimension ({loose})";
    }

    /// <summary>Parses <c>CUDA_GRAPH_BUCKETS</c>: <c>encoder.tokens=16,32,64;decoder.frames=64,128</c>.</summary>
    public static IReadOnlyList<GraphBucketing> Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var result = new List<GraphBucketing>();
        foreach (var entry in value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = entry.Split('=', 2, StringSplitOptions.TrimEntries);
            var target = parts[0].Split('.', 2, StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || target.Length != 2 || target[0].Length == 0 || target[1].Length == 0)
            {
                throw new ArgumentException($"CUDA_GRAPH_BUCKETS entry '{entry}' is not GRAPH.DIMENSION=SIZE,SIZE,...");
            }

            var sizes = new List<int>();
            foreach (var size in parts[1].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                sizes.Add(int.TryParse(size, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
                    ? n
                    : throw new ArgumentException($"CUDA_GRAPH_BUCKETS entry '{entry}': '{size}' is not a positive integer."));
            }

            var bucketing = new GraphBucketing(target[0], target[1], sizes);
            bucketing.Validate();
            result.Add(bucketing);
        }

        if (result.GroupBy(b => b.Graph).FirstOrDefault(g => g.Count() > 1) is { } twice)
        {
            throw new ArgumentException($"CUDA_GRAPH_BUCKETS buckets graph '{twice.Key}' more than once.");
        }

        return result;
    }

    public void Validate()
    {
        if (Sizes.Count == 0 || Sizes.Any(s => s < 1) || Sizes.Zip(Sizes.Skip(1)).Any(p => p.First >= p.Second))
        {
            throw new ArgumentException($"CUDA_GRAPH_BUCKETS: the sizes of {Graph}.{Dimension} must be positive, without repeats, in ascending order; got {string.Join(",", Sizes)}.");
        }
    }

    public override string ToString() => $"{Graph}.{Dimension}={string.Join(",", Sizes)}";
}
