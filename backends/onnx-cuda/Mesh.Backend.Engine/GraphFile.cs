namespace Mesh.Backend.Engine;

/// <summary>One ONNX graph of a model package: <paramref name="Name"/> is its stage (<c>model</c>, <c>encoder</c>, ...).</summary>
public sealed record GraphFile(string Name, string Path)
{
    /// <summary>The graph's bytes when it was made in memory (a fresh quantization); sessions load these instead of <see cref="Path"/>.</summary>
    internal byte[]? Model { get; init; }
}
