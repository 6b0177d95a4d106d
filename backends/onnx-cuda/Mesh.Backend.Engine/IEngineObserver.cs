namespace Mesh.Backend.Engine;

/// <summary>
/// What the engine reports about itself, for a host to export (the engine knows no metrics library).
/// Called on inference threads: implementations must be thread-safe and quick.
/// </summary>
public interface IEngineObserver
{
    void ProviderSelected(string model, ProviderSelection selection);

    void RunCompleted(in EngineRunTiming timing);
}

/// <summary>
/// One run of one stage: <see cref="Stage"/> is the graph of the package that ran (<c>model</c>, <c>encoder</c>,
/// <c>decoder</c>); <see cref="Graph"/> names the captured CUDA graph it replayed, or <c>none</c> when it ran eagerly.
/// </summary>
public readonly record struct EngineRunTiming(
    string Model, string Stage, string Graph, int Worker, TimeSpan Bind, TimeSpan Run, TimeSpan Fetch)
{
    public const string Eager = "none";

    public TimeSpan Total => Bind + Run + Fetch;
}
