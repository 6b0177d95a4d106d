using System.Text.RegularExpressions;
using Mesh.Tests.Integration;

namespace Mesh.Tests.Deployment;

/// <summary>
/// Every way the product starts its processes gives glibc the same arena limit: the Dockerfiles (and so compose and
/// the Kubernetes manifests, which run those images) and <c>./mesh up</c>. The soak in docs/reliability.md measured
/// the RSS with it; a launch without it would creep again.
/// </summary>
public sealed partial class AllocatorSettingsTests
{
    private const string ArenaMax = "2";

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
    public void Mesh_up_limits_the_malloc_arenas_unless_the_environment_says_otherwise()
    {
        var script = File.ReadAllText(Path.Combine(RepoPaths.Root, "mesh"));
        var startHost = script[script.IndexOf("start_host() {", StringComparison.Ordinal)..];
        startHost = startHost[..startHost.IndexOf("\n}", StringComparison.Ordinal)];
        Assert.Matches(ScriptEnv(), startHost);
        Assert.Equal(ArenaMax, ScriptEnv().Match(startHost).Groups[1].Value);
    }

    [GeneratedRegex(@"(?m)^ENV MALLOC_ARENA_MAX=(\S+)$")]
    private static partial Regex DockerEnv();

    [GeneratedRegex(@"env MALLOC_ARENA_MAX=""\$\{MALLOC_ARENA_MAX:-(\d+)\}"" ""\$\{env_vars\[@\]\}"" dotnet")]
    private static partial Regex ScriptEnv();
}
