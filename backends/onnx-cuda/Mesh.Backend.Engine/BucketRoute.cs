namespace Mesh.Backend.Engine;

/// <summary>
/// Where a request that fits <see cref="Bucket"/> runs: on <see cref="RunsOn"/>, the same bucket or a larger one whose
/// captured graph replayed clearly faster at load.
/// </summary>
/// <param name="Bucket">The smallest bucket that holds the request.</param>
/// <param name="RunsOn">The bucket whose graph runs it.</param>
/// <param name="ReplayMs">The median replay time of <see cref="Bucket"/>'s graph at load.</param>
/// <param name="RunsOnReplayMs">The median replay time of <see cref="RunsOn"/>'s graph at load.</param>
public sealed record BucketRoute(int Bucket, int RunsOn, double ReplayMs, double RunsOnReplayMs)
{
    /// <summary>
    /// A larger bucket must replay in at most this share of the request's own bucket's time: a median of a few replays at
    /// load carries some noise, and a choice that flips between starts would make latency depend on the start.
    /// </summary>
    public const double RequiredShare = 0.9;

    /// <summary>
    /// Routes each bucket (ascending sizes) to the fastest bucket at least as large, when that one is clearly faster.
    /// Kernel libraries pick their kernels by shape, so padding can pay: ref-ar's fp32 step replayed faster at batch 4 and 16
    /// than at batch 1 on an H100.
    /// </summary>
    public static IReadOnlyList<BucketRoute> Fastest(IReadOnlyList<int> sizes, IReadOnlyList<double> replayMs)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        ArgumentNullException.ThrowIfNull(replayMs);
        if (sizes.Count != replayMs.Count)
        {
            throw new ArgumentException($"{sizes.Count} buckets but {replayMs.Count} replay times.", nameof(replayMs));
        }

        var routes = new BucketRoute[sizes.Count];
        for (var i = 0; i < sizes.Count; i++)
        {
            var fastest = i;
            for (var j = i + 1; j < sizes.Count; j++)
            {
                if (replayMs[j] < replayMs[fastest])
                {
                    fastest = j;
                }
            }

            if (replayMs[fastest] > RequiredShare * replayMs[i])
            {
                fastest = i;
            }

            routes[i] = new BucketRoute(sizes[i], sizes[fastest], replayMs[i], replayMs[fastest]);
        }

        return routes;
    }
}
