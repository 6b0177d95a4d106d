using System.Diagnostics;
using Mesh.ModelGeneration;

namespace Mesh.Tests.Engine;

/// <summary>kokoro-tiny and piper-tiny, generated once into a temporary directory for the tests that share it.</summary>
public sealed class GeneratedModels : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("mesh-models-");
    private readonly List<DirectoryInfo> _copies = [];

    public GeneratedModels()
    {
        ModelGenerator.Generate(_root.FullName, [ModelGenerator.KokoroTiny, ModelGenerator.PiperTiny]);
    }

    public string KokoroTiny => Path.Combine(_root.FullName, ModelGenerator.KokoroTiny);

    public string PiperTiny => Path.Combine(_root.FullName, ModelGenerator.PiperTiny);

    /// <summary>A copy of a package in a fresh directory, to break on purpose.</summary>
    public string CopyOf(string package)
    {
        var copy = Directory.CreateTempSubdirectory("mesh-package-");
        _copies.Add(copy);
        var target = Path.Combine(copy.FullName, Path.GetFileName(package));
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(package))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }

        return target;
    }

    /// <summary>
    /// Replaces <paramref name="file"/> with a FIFO: ONNX Runtime's session creation blocks opening it until someone
    /// writes it, a load held for as long as a test wants.
    /// </summary>
    public static async Task ReplaceWithFifoAsync(string file)
    {
        File.Delete(file);
        using var mkfifo = Process.Start("mkfifo", [file]);
        await mkfifo.WaitForExitAsync();
        Assert.Equal(0, mkfifo.ExitCode);
    }

    public void Dispose()
    {
        _root.Delete(recursive: true);
        foreach (var copy in _copies)
        {
            copy.Delete(recursive: true);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class GeneratedModelsDefinition : ICollectionFixture<GeneratedModels>
{
    public const string Name = "generated models";
}
