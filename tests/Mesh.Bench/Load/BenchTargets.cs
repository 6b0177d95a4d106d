namespace Mesh.Bench.Load;

/// <summary>
/// What each comparison runs against. <see cref="Main"/> serves the sweep and the open loop, and the length comparison
/// where there is no <see cref="OverheadGateway"/> (a gateway over one backend); a comparison whose targets are missing
/// is skipped (and reported as not measured).
/// </summary>
public sealed record BenchTargets
{
    public required Target Main { get; init; }

    /// <summary>The sweep's second arm: the same backends behind YARP's default policy.</summary>
    public Target? Baseline { get; init; }

    public Target? OverheadGateway { get; init; }

    public Target? OverheadDirect { get; init; }

    public Target? NeuralGateway { get; init; }

    public Target? NeuralDirect { get; init; }

    /// <summary>The A/B arms: the same gateway with the variant pinned.</summary>
    public Target? VariantA { get; init; }

    public Target? VariantB { get; init; }

    /// <summary>What the main backends run, for labels: the built-in voice locally, "target" for a deployment.</summary>
    public required string Model { get; init; }

    public IEnumerable<Target> All =>
        new[] { Main, Baseline, OverheadGateway, OverheadDirect, NeuralGateway, NeuralDirect, VariantA, VariantB }
            .OfType<Target>()
            .DistinctBy(t => (t.Url.AbsoluteUri, t.Variant));
}
