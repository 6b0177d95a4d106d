using Mesh.Backend.Engine;
using Mesh.ModelGeneration;

namespace Mesh.Tests.Engine;

/// <summary>ref-ar and ref-staged, generated once into a temporary directory for the tests that share them.</summary>
public sealed class ReferenceModels : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("mesh-ref-");

    public ReferenceModels()
    {
        ModelGenerator.Generate(_root.FullName, [ModelGenerator.RefAr, ModelGenerator.RefStaged]);
    }

    public IReadOnlyList<GraphFile> Ar => [new("step", Path.Combine(_root.FullName, ModelGenerator.RefAr, "step.onnx"))];

    public IReadOnlyList<GraphFile> Staged =>
    [
        new("encoder", Path.Combine(_root.FullName, ModelGenerator.RefStaged, "encoder.onnx")),
        new("decoder", Path.Combine(_root.FullName, ModelGenerator.RefStaged, "decoder.onnx")),
    ];

    public void Dispose() => _root.Delete(recursive: true);
}

[CollectionDefinition(Name)]
public sealed class ReferenceModelsDefinition : ICollectionFixture<ReferenceModels>
{
    public const string Name = "reference models";
}
