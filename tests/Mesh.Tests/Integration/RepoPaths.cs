namespace Mesh.Tests.Integration;

/// <summary>Where the repository and the built hosts are, for tests that run real processes.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    /// <summary>The configuration this test assembly was built in; the hosts are run from the same one.</summary>
    public static string Configuration { get; } =
        AppContext.BaseDirectory.Split(Path.DirectorySeparatorChar).Contains("Release") ? "Release" : "Debug";

    public static string BackendDll => HostDll("backends/onnx-cuda/Mesh.Backend.Host", "Mesh.Backend.dll");

    public static string GatewayDll => HostDll("gateway/Mesh.Gateway", "Mesh.Gateway.dll");

    public static string BenchDll => HostDll("tests/Mesh.Bench", "Mesh.Bench.dll");

    /// <summary>The tool behind <c>./mesh models</c>.</summary>
    public static string ModelToolsDll => HostDll("backends/onnx-cuda/Mesh.ModelTools", "Mesh.ModelTools.dll");

    private static string HostDll(string project, string dll) =>
        Path.Combine(Root, project, "bin", Configuration, "net10.0", dll);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Mesh.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Mesh.sln not found above " + AppContext.BaseDirectory);
    }
}
