namespace Mesh.Backend.Engine;

/// <summary>One ONNX graph of a model package: <paramref name="Name"/> is its stage (<c>model</c>, <c>encoder</c>, ...).</summary>
public sealed record GraphFile(string Name, string Path);
