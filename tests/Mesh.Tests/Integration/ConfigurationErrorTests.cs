using System.Net;
using System.Net.Sockets;

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
    [InlineData("Streaming__StallTimeoutSeconds", "abc", "'abc' at 'Streaming:StallTimeoutSeconds'")]
    [InlineData("WebSockets__IdleTimeout", "abc", "'abc' at 'WebSockets:IdleTimeout'")]
    [InlineData("Backend__Variant", "a b", "Backend:Variant must match the regular expression")]
    [InlineData("Pipeline__Lookahead", "17", "Pipeline:Lookahead must be between 0 and 16")]
    [InlineData("Pipeline__MaxActiveBatch", "abc", "'abc' at 'Pipeline:MaxActiveBatch'")]
    [InlineData("Shutdown__DrainTimeoutSeconds", "0", "Shutdown:DrainTimeoutSeconds must be between 1 and 3600")]
    [InlineData("Shutdown__ReadinessGraceSeconds", "abc", "'abc' at 'Shutdown:ReadinessGraceSeconds'")]
    [InlineData("Faults__FailureRatio", "2", "Faults:FailureRatio must be between 0 and 1")]
    [InlineData("Faults__StartupDelayMs", "-1", "Faults:StartupDelayMs must be between 0 and 600000")]
    [InlineData("Faults__SentenceDelayMs", "abc", "'abc' at 'Faults:SentenceDelayMs'")]
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
    [InlineData("--Mesh:Streaming:SendBufferBytes=abc", "'abc' at 'Mesh:Streaming:SendBufferBytes'")]
    [InlineData("--Mesh:Discovery:TimeoutMs=abc", "'abc' at 'Mesh:Discovery:TimeoutMs'")]
    [InlineData("--Mesh:Shutdown:DrainTimeoutSeconds=0", "Mesh:Shutdown:DrainTimeoutSeconds must be between 1 and 3600")]
    [InlineData("--Mesh:Shutdown:ReadinessGraceSeconds=abc", "'abc' at 'Mesh:Shutdown:ReadinessGraceSeconds'")]
    [InlineData("--Mesh:Admission:TotalConcurrency=0", "Mesh:Admission:TotalConcurrency must be between 1 and 100000")]
    [InlineData("--Mesh:Admission:RealtimeReserved=16", "Mesh:Admission:RealtimeReserved must leave batch at least one slot of Mesh:Admission:TotalConcurrency")]
    [InlineData("--Mesh:Admission:Realtime:MaxQueue=-1", "Configuration refused: The setting Mesh:Admission:Realtime:MaxQueue must be between 0 and 100000")]
    [InlineData("--Mesh:Admission:Batch:QueueTimeoutMs=abc", "'abc' at 'Mesh:Admission:Batch:QueueTimeoutMs'")]
    [InlineData("--Mesh:Variants:Weights:test=-1", "Mesh:Variants:Weights:test is -1: a weight must be finite and not negative")]
    [InlineData("--Mesh:Variants:Weights:test=abc", "Mesh:Variants:Weights:test is 'abc': a weight is a number")]
    [InlineData("--Mesh:Balancing:Policy=Random", "Mesh:Balancing:Policy must be one of")]
    [InlineData("--Mesh:Health:ConsecutiveFailures=0", "Mesh:Health:ConsecutiveFailures must be between 1 and 1000")]
    [InlineData("--Mesh:Health:ReactivationSeconds=abc", "'abc' at 'Mesh:Health:ReactivationSeconds'")]
    [InlineData("--Mesh:WebSockets:AllowedOrigins:0=nowhere", "Every origin of Mesh:WebSockets:AllowedOrigins must be scheme://host[:port]")]
    [InlineData("--Mesh:Cors:AllowedOrigins:0=http://a/b", "Every origin of Mesh:Cors:AllowedOrigins must be scheme://host[:port]")]
    [InlineData("--Mesh:Fleet:Backends:0:Address=ftp://127.0.0.1:1/", "Configuration refused: The setting Mesh:Fleet:Backends:0:Address must be an absolute http or https URL")]
    [InlineData("--Mesh:Fleet:Backends:0:Pool=", "Configuration refused: The Mesh:Fleet:Backends:0:Pool field is required")]
    [InlineData("--Mesh:Fleet:Backends:0:Variant=", "Configuration refused: The Mesh:Fleet:Backends:0:Variant field is required")]
    [InlineData("--Mesh:Fleet:Backends:0:Variant=a b", "Configuration refused: The setting Mesh:Fleet:Backends:0:Variant must match the regular expression")]
    [InlineData("--Mesh:Auth:Keys:0:Burst=0", "Configuration refused: The Mesh:Auth:Keys:0:Name field is required. The Mesh:Auth:Keys:0:Sha256 field is required. The setting Mesh:Auth:Keys:0:Burst must be between 1 and 1000000.")]
    [InlineData("--Mesh:Fleet:Backends:0:Discover=maybe", "Mesh:Fleet:Backends:0 does not bind: Failed to convert configuration value 'maybe' at 'Mesh:Fleet:Backends:0:Discover'")]
    [InlineData("--Mesh:Auth:Keys:0:Burst=abc", "Mesh:Auth:Keys:0 does not bind: Failed to convert configuration value 'abc' at 'Mesh:Auth:Keys:0:Burst'")]
    [InlineData("--Mesh:Auth:Keys:0=", "Mesh:Auth:Keys:0 is null or empty: an entry of the list is an object of settings.")]
    [InlineData("--Mesh:Fleet:Backends:1=b1", "Mesh:Fleet:Backends:1 is 'b1': an entry of the list is an object of settings.")]
    public async Task A_refused_gateway_setting_is_named_as_it_was_set(string setting, string expected)
    {
        var output = await RefusedStartAsync(
            RepoPaths.GatewayDll,
            [.. MeshFleet.FleetArgs(0, "b0", new Uri("http://127.0.0.1:1/"), "shared", "test"), setting]);

        Assert.Contains(expected, output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Mesh:FleetFile")]
    [InlineData("Mesh:Auth:KeysFile")]
    public async Task A_gateway_settings_file_that_does_not_exist_is_refused_by_its_key(string key)
    {
        var path = Path.Combine(Path.GetTempPath(), $"mesh-settings-{Guid.NewGuid():N}.json");

        var output = await RefusedStartAsync(RepoPaths.GatewayDll, [.. MeshFleet.FleetArgs(0, "b0", new Uri("http://127.0.0.1:1/"), "shared", "test"), $"--{key}={path}"]);

        Assert.Equal($"Configuration refused: {key} names {path}, which does not exist.", output);
    }

    [Theory]
    [InlineData("Mesh:FleetFile")]
    [InlineData("Mesh:Auth:KeysFile")]
    public async Task A_gateway_settings_file_that_is_not_valid_JSON_is_refused_by_its_key_where_the_parser_stopped(string key)
    {
        var path = Path.Combine(Path.GetTempPath(), $"mesh-settings-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(path, "{\"Mesh\": {\"Fleet\": {}},\n \"Auth\": {}}}");
        try
        {
            var output = await RefusedStartAsync(RepoPaths.GatewayDll, [.. MeshFleet.FleetArgs(0, "b0", new Uri("http://127.0.0.1:1/"), "shared", "test"), $"--{key}={path}"]);

            Assert.StartsWith($"Configuration refused: {key} names {path}, which is not valid JSON: ", output, StringComparison.Ordinal);
            Assert.EndsWith("LineNumber: 1 | BytePositionInLine: 12.", output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task A_gateway_names_every_refused_list_entry_and_setting_at_once()
    {
        // JSON nulls, which the binder turns into entries of defaults, in both lists of a settings file.
        var settingsFile = Path.Combine(Path.GetTempPath(), $"mesh-settings-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(settingsFile, """
            {"Mesh": {"Fleet": {"Backends": [null, {"Name": "b1", "Address": "http://127.0.0.1:1/", "Discover": "maybe"}]},
                      "Auth": {"Keys": [null]}}}
            """);
        try
        {
            // Settings only the start's own validation reads, which it refused together in an exception of its own, and a
            // value that does not convert, which the start's validation let through at once, dropping the others.
            var output = await RefusedStartAsync(
                RepoPaths.GatewayDll,
                [
                    $"--Mesh:FleetFile={settingsFile}", "--Mesh:Discovery:RefreshMs=0", "--Mesh:WebSockets:AllowedOrigins:0=nowhere",
                    "--Mesh:Admission:TotalConcurrency=abc", "--Mesh:Shutdown:DrainTimeoutSeconds=0",
                ]);

            Assert.Contains("Mesh:Fleet:Backends:0 is null or empty", output, StringComparison.Ordinal);
            Assert.Contains("Mesh:Fleet:Backends:1 does not bind: Failed to convert configuration value 'maybe'", output, StringComparison.Ordinal);
            Assert.Contains("Mesh:Auth:Keys:0 is null or empty", output, StringComparison.Ordinal);
            // Not also the checks of the defaults the binder turns each null into, which named no setting.
            Assert.DoesNotContain("Mesh:Fleet:Backends:0:", output, StringComparison.Ordinal);
            Assert.DoesNotContain("Mesh:Auth:Keys:0:", output, StringComparison.Ordinal);
            Assert.Contains("Mesh:Discovery:RefreshMs must be between", output, StringComparison.Ordinal);
            Assert.Contains("Every origin of Mesh:WebSockets:AllowedOrigins must be scheme://host[:port]", output, StringComparison.Ordinal);
            Assert.Contains("Failed to convert configuration value 'abc' at 'Mesh:Admission:TotalConcurrency'", output, StringComparison.Ordinal);
            // The host reads its shutdown settings as it is built, before the others are checked.
            Assert.Contains("Mesh:Shutdown:DrainTimeoutSeconds must be between 1 and 3600", output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(settingsFile);
        }
    }

    [Fact]
    public async Task A_backend_names_every_refused_setting_at_once()
    {
        // A value that does not convert, settings the start-up log reads, the host reads as it is built, and only a
        // hosted service reads as the host starts.
        var output = await RefusedStartAsync(RepoPaths.BackendDll, [], new Dictionary<string, string>
        {
            ["WORKERS"] = "abc",
            ["Pipeline__Lookahead"] = "17",
            ["Shutdown__DrainTimeoutSeconds"] = "0",
            ["Faults__FailureRatio"] = "2",
        });

        Assert.Contains("'abc' at 'WORKERS'", output, StringComparison.Ordinal);
        Assert.Contains("Pipeline:Lookahead must be between 0 and 16", output, StringComparison.Ordinal);
        Assert.Contains("Shutdown:DrainTimeoutSeconds must be between 1 and 3600", output, StringComparison.Ordinal);
        Assert.Contains("Faults:FailureRatio must be between 0 and 1", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_backend_whose_address_is_taken_exits_with_code_1_naming_the_address()
    {
        using var taken = TakenPort();
        var url = $"http://127.0.0.1:{((IPEndPoint)taken.LocalEndPoint!).Port}";

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => HostProcess.StartAsync(RepoPaths.BackendDll, ["--urls", url]));

        AssertCannotListen(refused.Message, url);
    }

    [Fact]
    public async Task A_backend_whose_address_is_taken_while_its_model_waits_to_load_names_only_the_address()
    {
        using var taken = TakenPort();
        var url = $"http://127.0.0.1:{((IPEndPoint)taken.LocalEndPoint!).Port}";

        // The model load is still to come when the host gives up: it is cancelled as the host is disposed.
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(
            () => HostProcess.StartAsync(RepoPaths.BackendDll, ["--urls", url, "--Faults:StartupDelayMs=60000"]));

        AssertCannotListen(refused.Message, url);
    }

    [Fact]
    public async Task A_gateway_whose_address_is_taken_exits_with_code_1_naming_the_address()
    {
        using var taken = TakenPort();
        var url = $"http://127.0.0.1:{((IPEndPoint)taken.LocalEndPoint!).Port}";

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => HostProcess.StartAsync(
            RepoPaths.GatewayDll, [.. MeshFleet.FleetArgs(0, "b0", new Uri("http://127.0.0.1:1/"), "shared", "test"), "--urls", url]));

        AssertCannotListen(refused.Message, url);
    }

    private static Socket TakenPort()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.Listen();
        return socket;
    }

    /// <summary>
    /// A clean exit (not an abort's 134) whose last word names the taken address, and no service that was starting
    /// beside the listener (the backend's model load) reported as failed for being stopped.
    /// </summary>
    private static void AssertCannotListen(string output, string url)
    {
        Assert.StartsWith("host exited with code 1:", output, StringComparison.Ordinal);
        Assert.Contains($"Cannot listen: Failed to bind to address {url}: address already in use.", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
        Assert.DoesNotContain("BackgroundService failed", output, StringComparison.Ordinal);
    }

    /// <summary>The one line a refused start writes, whatever it refused: no log of a failed start, no stack trace.</summary>
    private static async Task<string> RefusedStartAsync(string dll, string[] args, Dictionary<string, string>? environment = null)
    {
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => HostProcess.StartAsync(dll, args, environment));
        var output = Assert.Single(refused.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1));
        Assert.StartsWith("host exited with code 1:", refused.Message, StringComparison.Ordinal);
        Assert.StartsWith("Configuration refused: ", output, StringComparison.Ordinal);
        return output;
    }
}
