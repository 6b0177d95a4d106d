namespace Mesh.Backend.Engine;

/// <summary>
/// What the engine reports about itself, for a host to export (the engine knows no metrics library).
/// Called on inference threads: implementations must be thread-safe and quick.
/// </summary>
public interface IEngineObserver
{
    void ProviderSelected(string model, ProviderSelection selection);

    /// <summary>The engine is loaded: how it runs the model (provider, precision, graph mode).</summary>
    void ModelLoaded(string model, EngineDescription description)
    {
    }

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

    /// <summary>The stage's weight precision (<see cref="Precisions"/>).</summary>
    public string Precision { get; init; } = Precisions.Fp32;

    public TimeSpan Total => Bind + Run + Fetch;
}

/// <summary>How a loaded engine runs its model, for labels and <c>/v1/models</c>.</summary>
/// <param name="Precision"><see cref="Precisions.Int8"/> when any graph holds MatMulNBits weights, else <see cref="Precisions.Fp32"/>.</param>
/// <param name="Graphs"><see cref="GraphModes"/>: whether runs replay captured CUDA graphs.</param>
public sealed record EngineDescription(ProviderSelection Provider, string Precision, string Graphs);

/// <summary>Weight precisions as labels. A graph is int8 when the rewriter's metadata says so; others are reported as fp32.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720", Justification = "The QUANTIZE and label values.")]
public static class Precisions
{
    public const string Fp32 = "fp32";
    public const string Int8 = "int8";
}

/// <summary>Graph modes as labels.</summary>
public static class GraphModes
{
    /// <summary>Every run is an ordinary ONNX Runtime run.</summary>
    public const string Eager = "eager";

    /// <summary>Runs replay CUDA graphs captured per shape bucket.</summary>
    public const string Captured = "captured";
}
