using System.Reflection;
using Mesh.Backend.Host;
using Mesh.Tests.Integration;
using Microsoft.Extensions.Configuration;

namespace Mesh.Tests.Deployment;

/// <summary>The README's configuration table is where operators look a backend setting up: it must name every one the backend reads.</summary>
public sealed class ReadmeConfigurationTests
{
    private static readonly string Readme = File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md"));

    [Fact]
    public void Every_engine_setting_is_in_the_readme()
    {
        var names = typeof(EngineOptions).GetProperties()
            .Select(p => p.GetCustomAttribute<ConfigurationKeyNameAttribute>()?.Name)
            .OfType<string>()
            .ToArray();

        Assert.NotEmpty(names);
        Assert.All(names, name => Assert.True(Readme.Contains($"`{name}`", StringComparison.Ordinal), $"{name} is read by the backend but missing from README.md"));
    }

    [Theory]
    [InlineData(typeof(BackendOptions), BackendOptions.Section)]
    [InlineData(typeof(PipelineSettings), PipelineSettings.Section)]
    [InlineData(typeof(FaultOptions), FaultOptions.Section)]
    [InlineData(typeof(ShutdownSettings), ShutdownSettings.Section)]
    [InlineData(typeof(WebSocketSessionOptions), WebSocketSessionOptions.Section)]
    [InlineData(typeof(StreamingSettings), StreamingSettings.Section)]
    public void Every_setting_of_a_backend_section_is_in_the_readme(Type options, string section)
    {
        var names = options.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).Select(p => $"{section}__{p.Name}").ToArray();

        Assert.NotEmpty(names);
        Assert.All(names, name => Assert.True(Readme.Contains($"`{name}`", StringComparison.Ordinal), $"{name} is read by the backend but missing from README.md"));
    }
}
