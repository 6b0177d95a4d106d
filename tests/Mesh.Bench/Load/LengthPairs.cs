namespace Mesh.Bench.Load;

/// <summary>
/// How both comparisons of TTFA for 3 vs 36 sentences (the load benchmark's and <c>ttfa</c>) send their requests. Back to
/// back, a request that came right after a short one started slower than one right after a long one, and that carry-over,
/// not the text, decided the ratio: so a pause before each request, and pairs in ABBA order, so each arm follows each arm
/// equally often (in random order an arm followed the other three times in four).
/// </summary>
public static class LengthPairs
{
    public static TimeSpan Pause { get; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Pair number <paramref name="pair"/> (from 0) in ABBA order: short first in even pairs, long first in odd ones.</summary>
    public static IReadOnlyList<T> InOrder<T>(int pair, T shortArm, T longArm) => pair % 2 == 0 ? [shortArm, longArm] : [longArm, shortArm];
}
