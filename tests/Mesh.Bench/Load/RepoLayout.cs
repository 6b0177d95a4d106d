namespace Mesh.Bench.Load;

/// <summary>Where the repository, its built hosts and its corpus are, found from this program's own location.</summary>
public sealed record RepoLayout(string Root, string Configuration)
{
    public string BackendDll => Path.Combine(Root, "backends", "onnx-cuda", "Mesh.Backend.Host", "bin", Configuration, "net10.0", "Mesh.Backend.dll");

    public string GatewayDll => Path.Combine(Root, "gateway", "Mesh.Gateway", "bin", Configuration, "net10.0", "Mesh.Gateway.dll");

    public string CorpusDirectory => Path.Combine(Root, "corpus");

    /// <summary>The hosts are run from the configuration this program was built in.</summary>
    public static RepoLayout Find()
    {
        var baseDirectory = AppContext.BaseDirectory;
        var configuration = baseDirectory.Split(Path.DirectorySeparatorChar).Contains("Debug") ? "Debug" : "Release";
        for (var dir = new DirectoryInfo(baseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Mesh.sln")))
            {
                return new RepoLayout(dir.FullName, configuration);
            }
        }

        throw new InvalidOperationException("Mesh.sln not found above " + baseDirectory);
    }
}
