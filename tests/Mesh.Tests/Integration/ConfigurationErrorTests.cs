namespace Mesh.Tests.Integration;

/// <summary>
/// A host given a setting it refuses stops at once with one line naming the setting as the operator wrote it, not
/// with an unhandled exception's stack trace about C# properties: real processes, real environment variables.
/// </summary>
public sealed class ConfigurationErrorTests
{
    [Theory]
    [InlineData("WORKERS", "0", "WORKERS must be between 1 and 64")]
    [InlineData("EXECUTION_PROVIDER", "gpu", "EXECUTION_PROVIDER must match")]
    [InlineData("REQUEST_TIMEOUT_SECONDS", "abc", "'abc' at 'REQUEST_TIMEOUT_SECONDS'")]
    [InlineData("WebSockets__IdleTimeout", "00:00:00", "WebSockets:IdleTimeout must be between 00:00:01 and 01:00:00")]
    [InlineData("WebSockets__IdleTimeout", "1.00:00:00", "WebSockets:IdleTimeout must be between 00:00:01 and 01:00:00")]
    [InlineData("Streaming__SendBufferBytes", "1024", "Streaming:SendBufferBytes must be between 4096 and 16777216")]
    [InlineData("Streaming__StallTimeoutSeconds", "0", "Streaming:StallTimeoutSeconds must be between 1 and 3600")]
    public async Task A_refused_backend_setting_is_named_as_it_was_set(string name, string value, string expected)
    {
        var output = await RefusedStartAsync(RepoPaths.BackendDll, [], new Dictionary<string, string> { [name] = value });

        Assert.Contains(expected, output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--Mesh:Discovery:RefreshMs=0", "Mesh:Discovery:RefreshMs must be between")]
    [InlineData("--Mesh:Streaming:SendBufferBytes=0", "Mesh:Streaming:SendBufferBytes must be between 4096 and 16777216")]
    [InlineData("--Mesh:Streaming:StallTimeoutSeconds=3601", "Mesh:Streaming:StallTimeoutSeconds must be between 1 and 3600")]
    [InlineData("--Mesh:Streaming:BackendReceiveBufferBytes=33554432", "Mesh:Streaming:BackendReceiveBufferBytes must be between 4096 and 16777216")]
    public async Task A_refused_gateway_setting_is_named_as_it_was_set(string setting, string expected)
    {
        var output = await RefusedStartAsync(
            RepoPaths.GatewayDll,
            [.. MeshFleet.FleetArgs(0, "b0", new Uri("http://127.0.0.1:1/"), "shared", "test"), setting]);

        Assert.Contains(expected, output, StringComparison.Ordinal);
    }

    private static async Task<string> RefusedStartAsync(string dll, string[] args, Dictionary<string, string>? environment = null)
    {
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => HostProcess.StartAsync(dll, args, environment));
        Assert.Contains("Configuration refused: ", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", refused.Message, StringComparison.Ordinal);
        return refused.Message;
    }
}
