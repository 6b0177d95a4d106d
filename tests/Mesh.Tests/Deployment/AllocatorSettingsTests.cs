using System.Text.RegularExpressions;
using Mesh.Tests.Integration;

namespace Mesh.Tests.Deployment;

/// <summary>
/// Every way the product starts its processes gives glibc the same arena limit, and every way it starts a backend
/// gives the GC the same memory setting: the Dockerfiles (and so compose and the Kubernetes manifests, which run those
/// images) and <c>./mesh up</c> (the bench's own fleet: <c>LoadBenchmarkTests</c>). The soak in docs/reliability.md
/// measured the RSS with them; a launch without them would creep again.
/// </summary>
public sealed partial class AllocatorSettingsTests
{
    private const string ArenaMax = "2";
    private const string ConserveMemory = "9";

    [Theory]
    [InlineData("gateway/Dockerfile")]
    [InlineData("backends/onnx-cuda/Dockerfile")]
    public void Images_limit_the_malloc_arenas(string dockerfile)
    {
        var text = File.ReadAllText(Path.Combine(RepoPaths.Root, dockerfile));
        var runtimeStage = text[text.LastIndexOf("\nFROM ", StringComparison.Ordinal)..];
        Assert.Equal(ArenaMax, DockerEnv().Match(runtimeStage).Groups[1].Value);
    }

    [Fact]
    public void The_backend_image_lets_the_gc_compact_a_fragmented_large_object_heap()
    {
        var text = File.ReadAllText(Path.Combine(RepoPaths.Root, "backends/onnx-cuda/Dockerfile"));
        var runtimeStage = text[text.LastIndexOf("\nFROM ", StringComparison.Ordinal)..];
        Assert.Equal(ConserveMemory, DockerConserveMemory().Match(runtimeStage).Groups[1].Value);
    }

    [Fact]
    public void Mesh_up_limits_the_malloc_arenas_unless_the_environment_says_otherwise()
    {
        var script = File.ReadAllText(Path.Combine(RepoPaths.Root, "mesh"));
        var startHost = script[script.IndexOf("start_host() {", StringComparison.Ordinal)..];
        startHost = startHost[..startHost.IndexOf("\n}", StringComparison.Ordinal)];
        Assert.Matches(ScriptEnv(), startHost);
        Assert.Equal(ArenaMax, ScriptEnv().Match(startHost).Groups[1].Value);
    }

    [Fact]
    public void Mesh_up_lets_a_backends_gc_compact_its_large_object_heap_unless_the_environment_says_otherwise()
    {
        var script = File.ReadAllText(Path.Combine(RepoPaths.Root, "mesh"));
        var startHost = script[script.IndexOf("start_host() {", StringComparison.Ordinal)..];
        startHost = startHost[..startHost.IndexOf("\n}", StringComparison.Ordinal)];
        Assert.Equal(ConserveMemory, ScriptConserveMemory().Match(startHost).Groups[1].Value);
        Assert.Contains("\"${gc_vars[@]}\" \"${env_vars[@]}\" dotnet", startHost, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"(?m)^ENV MALLOC_ARENA_MAX=(\S+)$")]
    private static partial Regex DockerEnv();

    [GeneratedRegex(@"env MALLOC_ARENA_MAX=""\$\{MALLOC_ARENA_MAX:-(\d+)\}"" ""\$\{gc_vars\[@\]\}"" ""\$\{env_vars\[@\]\}"" dotnet")]
    private static partial Regex ScriptEnv();

    [GeneratedRegex(@"(?m)^ENV DOTNET_GCConserveMemory=(\S+)$")]
    private static partial Regex DockerConserveMemory();

    // Only for the backend: the gateway's large object heap stays near empty.
    [GeneratedRegex(@"if \[ ""\$dll"" = ""\$BACKEND_DLL"" \]; then gc_vars=\(DOTNET_GCConserveMemory=""\$\{DOTNET_GCConserveMemory:-(\d+)\}""\); fi")]
    private static partial Regex ScriptConserveMemory();
}
