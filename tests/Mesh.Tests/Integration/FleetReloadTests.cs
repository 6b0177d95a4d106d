using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mesh.Contracts;
using Mesh.Gateway.Auth;
using Mesh.Tests.Observability;

namespace Mesh.Tests.Integration;

/// <summary>A fleet or keys file edited under a running gateway, as an operator scaling in or revoking a key would.</summary>
public sealed class FleetReloadTests
{
    private const string FleetRefusal = "The changed FleetOptions settings were refused";
    private const string WeightsRefusal = "The changed VariantOptions settings were refused";
    private const string AdmissionRefusal = "The changed AdmissionOptions settings were refused";
    private const string KeysRefusal = "The changed AuthOptions settings were refused";
    private const string FileRefusal = "The changed settings file was refused; the settings in force stay: ";

    private static readonly string[] CataloguePaths = ["/v1/models", "/v1/audio/voices"];

    [Fact]
    public async Task A_backend_removed_from_the_fleet_file_leaves_no_series_behind()
    {
        // Refusing backends pass their probes and report their load but answer every request with 503, so one request
        // fails on both and ejects both; "dead" never answers its probe, so it is exported as unready, never ejected.
        await using var kept = await RefusingBackend.StartAsync();
        await using var gone = await RefusingBackend.StartAsync();
        using var dead = new ClosedPort();
        using var fleetFile = await SettingsFile.CreateAsync(("kept", kept.Url), ("gone", gone.Url), ("dead", dead.Url));
        await using var gateway = await MeshFleet.StartGatewayAsync([], $"--Mesh:FleetFile={fleetFile.Path}", "--Mesh:Health:ConsecutiveFailures=1");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };
        (await client.PostAsJsonAsync(new Uri("/v1/audio/speech/stream/pcm", UriKind.Relative), new { voice = "alloy", input = "Hi." })).Dispose();
        await Eventually.UntilAsync(
            async () => await MetricsAsync(client) is var metrics && BackendSeries(metrics, "gone").Length == 3 && BackendSeries(metrics, "dead").Length == 2,
            "the series of the backends to remove never appeared");

        await fleetFile.WriteAsync(("kept", kept.Url));
        await Eventually.UntilAsync(
            async () => await MetricsAsync(client) is var metrics && BackendSeries(metrics, "gone").Length + BackendSeries(metrics, "dead").Length == 0,
            "the removed backends' series are still exported");

        // Longer than a probe interval: a probe or answer of a removed backend must not bring its series back.
        await Task.Delay(TimeSpan.FromSeconds(3));
        var metrics = await MetricsAsync(client);
        Assert.Empty(BackendSeries(metrics, "gone"));
        Assert.Empty(BackendSeries(metrics, "dead"));
        Assert.Equal(
            [
                "mesh_backend_ejections_total{backend=\"kept\",cluster=\"shared:test\"} 1",
                "mesh_backend_healthy{backend=\"kept\",cluster=\"shared:test\"} 1",
                "mesh_backend_load{backend=\"kept\"} 0",
            ],
            BackendSeries(metrics, "kept"));
    }

    /// <remarks>
    /// Until its first probe holds it out, a backend just added to the fleet is asked for the catalogue with the others.
    /// One still loading its model answers 503 model_not_ready, as expected of it, which is no warning for every request.
    /// </remarks>
    [Fact]
    public async Task A_backend_added_while_it_loads_its_model_is_left_out_of_the_catalogue_without_a_warning()
    {
        await using var serving = await MeshFleet.StartBackendAsync("serving");
        await using var loading = await HostProcess.StartAsync(RepoPaths.BackendDll, ["--Backend:Name=loading", "--Faults:StartupDelayMs=600000"]);
        using var fleetFile = await SettingsFile.CreateAsync(("serving", serving.Url));
        await using var gateway = await MeshFleet.StartGatewayAsync(
            [], $"--Mesh:FleetFile={fleetFile.Path}", "--Logging:LogLevel:Mesh.Gateway.BackendCatalog=Debug");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };

        await fleetFile.WriteAsync(("serving", serving.Url), ("loading", loading.Url));
        var answers = new List<HttpStatusCode>();
        await Eventually.UntilAsync(
            async () =>
            {
                foreach (var path in CataloguePaths)
                {
                    using var response = await client.GetAsync(new Uri(path, UriKind.Relative));
                    answers.Add(response.StatusCode);
                }

                return CatalogueLines(gateway.Output.Split('\n'), loading.Url).Any();
            },
            "the gateway never asked the loading backend for its catalogue");

        Assert.All(answers, status => Assert.Equal(HttpStatusCode.OK, status));
        var lines = gateway.Output.Split('\n');
        Assert.All(CatalogueLines(lines, loading.Url), line => Assert.Contains("is loading its model", line, StringComparison.Ordinal));
        Assert.DoesNotContain(lines, line => line.StartsWith("warn: Mesh.Gateway.BackendCatalog", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.StartsWith("dbug: Mesh.Gateway.BackendCatalog", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_fleet_file_that_fails_validation_is_refused_and_the_next_valid_one_applies()
    {
        await using var first = await MeshFleet.StartBackendAsync("b0");
        await using var second = await MeshFleet.StartBackendAsync("b1");
        using var fleetFile = await SettingsFile.CreateAsync(("first", first.Url));
        await using var gateway = await MeshFleet.StartGatewayAsync([], $"--Mesh:FleetFile={fleetFile.Path}");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url, Timeout = TimeSpan.FromSeconds(60) };
        Assert.Equal((1, 1), (await ReloadAppliedAsync(client, "Mesh:Fleet"), await ReloadAppliedAsync(client, "Mesh:Variants")));

        // A relative address and a negative weight fail validation: both are refused, and the fleet and weights in
        // force serve on (the weights are read on every request).
        await fleetFile.WriteAsync(
            new Dictionary<string, double> { ["test"] = -1 }, ("first", first.Url), ("second", new Uri("backends/second", UriKind.Relative)));
        await Eventually.UntilAsync(
            () => Task.FromResult(gateway.Output.Contains(FleetRefusal, StringComparison.Ordinal) && gateway.Output.Contains(WeightsRefusal, StringComparison.Ordinal)),
            "the invalid fleet file was not refused");
        Assert.Contains("The setting Mesh:Fleet:Backends:1:Address must be an absolute http or https URL", gateway.Output, StringComparison.Ordinal);
        Assert.Contains("Mesh:Variants:Weights:test is -1: a weight must be finite and not negative", gateway.Output, StringComparison.Ordinal);
        Assert.Equal((0, 0), (await ReloadAppliedAsync(client, "Mesh:Fleet"), await ReloadAppliedAsync(client, "Mesh:Variants")));
        using (var speech = await SpeakAsync(client))
        {
            Assert.Equal(HttpStatusCode.OK, speech.StatusCode);
            Assert.NotEmpty(await speech.Content.ReadAsByteArrayAsync());
        }

        Assert.Equal(1, (await VariantAsync(client)).ReadyBackends);

        await fleetFile.WriteAsync(("first", first.Url), ("second", second.Url));
        await Eventually.UntilAsync(async () => (await VariantAsync(client)).ReadyBackends == 2, "the valid fleet file after the refused one never applied");
        Assert.Equal((1, 1), (await ReloadAppliedAsync(client, "Mesh:Fleet"), await ReloadAppliedAsync(client, "Mesh:Variants")));
        using (var speech = await SpeakAsync(client))
        {
            Assert.Equal(HttpStatusCode.OK, speech.StatusCode);
        }

        // However often the watcher reported the refused file, each refusal is logged once.
        Assert.Single(gateway.Output.Split('\n'), line => line.Contains(FleetRefusal, StringComparison.Ordinal));
        Assert.Single(gateway.Output.Split('\n'), line => line.Contains(WeightsRefusal, StringComparison.Ordinal));
        Assert.False(gateway.HasExited);
    }

    [Fact]
    public async Task A_fleet_file_with_a_value_that_does_not_bind_is_refused_and_the_settings_in_force_serve_on()
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0");
        using var fleetFile = await SettingsFile.CreateAsync(("first", backend.Url));
        await using var gateway = await MeshFleet.StartGatewayAsync([], $"--Mesh:FleetFile={fleetFile.Path}");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url, Timeout = TimeSpan.FromSeconds(60) };

        // Not a number: the binder throws before validation could refuse it.
        await fleetFile.WriteSettingsAsync(new { Fleet = Fleet(("first", backend.Url)), Admission = new { TotalConcurrency = "abc" } });
        await Eventually.UntilAsync(
            () => Task.FromResult(gateway.Output.Contains(AdmissionRefusal, StringComparison.Ordinal)), "the value that does not bind was not refused");
        Assert.Contains("'abc' at 'Mesh:Admission:TotalConcurrency'", gateway.Output, StringComparison.Ordinal);
        using var speech = await SpeakAsync(client);
        Assert.Equal(HttpStatusCode.OK, speech.StatusCode);
        Assert.NotEmpty(await speech.Content.ReadAsByteArrayAsync());
        Assert.False(gateway.HasExited);
    }

    [Fact]
    public async Task A_keys_file_with_an_entry_that_does_not_bind_is_refused_and_the_keys_in_force_serve_on()
    {
        using var keysFile = await SettingsFile.CreateAsync(new { Auth = new { Keys = new[] { new { Name = "a", Sha256 = ApiKeyStore.HashOf("sk-a") } } } });
        await using var gateway = await MeshFleet.StartGatewayAsync([], $"--Mesh:Auth:KeysFile={keysFile.Path}");
        using var client = new HttpClient { BaseAddress = gateway.Url };
        Assert.Equal(HttpStatusCode.OK, await VariantsStatusAsync(client, "sk-a"));

        // The binder would drop key a for its Burst and keep b, silently revoking a and admitting b.
        await keysFile.WriteSettingsAsync(new
        {
            Auth = new
            {
                Keys = new object[]
                {
                    new { Name = "a", Sha256 = ApiKeyStore.HashOf("sk-a"), Burst = "abc" },
                    new { Name = "b", Sha256 = ApiKeyStore.HashOf("sk-b") },
                },
            },
        });
        await Eventually.UntilAsync(
            () => Task.FromResult(gateway.Output.Contains(KeysRefusal, StringComparison.Ordinal)), "the key that does not bind was not refused");
        Assert.Contains(
            "Mesh:Auth:Keys:0 does not bind: Failed to convert configuration value 'abc' at 'Mesh:Auth:Keys:0:Burst'", gateway.Output, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, await VariantsStatusAsync(client, "sk-a"));
        Assert.Equal(HttpStatusCode.Unauthorized, await VariantsStatusAsync(client, "sk-b"));
    }

    [Fact]
    public async Task A_settings_file_with_null_entries_is_refused_naming_every_bad_entry_and_the_settings_in_force_serve_on()
    {
        using var settingsFile = await SettingsFile.CreateAsync(new { Auth = new { Keys = new[] { new { Name = "a", Sha256 = ApiKeyStore.HashOf("sk-a") } } } });
        await using var gateway = await MeshFleet.StartGatewayAsync([], $"--Mesh:Auth:KeysFile={settingsFile.Path}");
        using var client = new HttpClient { BaseAddress = gateway.Url };

        // The binder turns a null into an entry of defaults, whose own checks would name neither the entry nor the null:
        // the refusals name the null entries alone.
        await settingsFile.WriteSettingsAsync(new
        {
            Fleet = new { Backends = new object?[] { null } },
            Auth = new { Keys = new object?[] { null, new { Name = "a", Sha256 = ApiKeyStore.HashOf("sk-a"), Burst = "abc" } } },
        });
        await Eventually.UntilAsync(
            () => Task.FromResult(gateway.Output.Contains(FleetRefusal, StringComparison.Ordinal) && gateway.Output.Contains(KeysRefusal, StringComparison.Ordinal)),
            "the null entries were not refused");

        var lines = gateway.Output.Split('\n');
        var fleetRefusal = Assert.Single(lines, line => line.Contains(FleetRefusal, StringComparison.Ordinal));
        Assert.Contains("Mesh:Fleet:Backends:0 is null or empty: an entry of the list is an object of settings.", fleetRefusal, StringComparison.Ordinal);
        var keysRefusal = Assert.Single(lines, line => line.Contains(KeysRefusal, StringComparison.Ordinal));
        Assert.Contains("Mesh:Auth:Keys:0 is null or empty", keysRefusal, StringComparison.Ordinal);
        Assert.Contains("Mesh:Auth:Keys:1 does not bind: Failed to convert configuration value 'abc'", keysRefusal, StringComparison.Ordinal);
        Assert.DoesNotContain("Mesh:Fleet:Backends:0:", fleetRefusal, StringComparison.Ordinal);
        Assert.DoesNotContain("Mesh:Auth:Keys:0:", keysRefusal, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, await VariantsStatusAsync(client, "sk-a"));
    }

    [Fact]
    public async Task A_fleet_file_saved_half_written_or_deleted_is_refused_and_the_fleet_in_force_serves_on()
    {
        await using var first = await MeshFleet.StartBackendAsync("b0");
        await using var second = await MeshFleet.StartBackendAsync("b1");
        using var fleetFile = await SettingsFile.CreateAsync(("first", first.Url));
        using var keysFile = await SettingsFile.CreateAsync(Keys("a"));
        await using var gateway = await MeshFleet.StartGatewayAsync([], $"--Mesh:FleetFile={fleetFile.Path}", $"--Mesh:Auth:KeysFile={keysFile.Path}");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new("Bearer", "sk-a");

        await fleetFile.WriteTextAsync("""{"Mesh": {"Fleet": {"Backends": [""");
        await WaitForLineAsync(gateway, $"{FileRefusal}Mesh:FleetFile names {fleetFile.Path}, which is not valid JSON: ");
        Assert.Contains("LineNumber: 0 | BytePositionInLine: 33.", gateway.Output, StringComparison.Ordinal);
        Assert.Equal(0, await ReloadAppliedAsync(client, "Mesh:FleetFile"));
        // A save of the other file reloads every setting, those the refused file held too.
        await keysFile.WriteSettingsAsync(Keys("a", "b"));
        await Eventually.UntilAsync(async () => await VariantsStatusAsync(client, "sk-b") == HttpStatusCode.OK, "the keys saved after the refused fleet never applied");
        await AssertServesAsync(client, readyBackends: 1);

        fleetFile.Delete();
        await WaitForLineAsync(gateway, $"{FileRefusal}Mesh:FleetFile names {fleetFile.Path}, which does not exist.");
        await keysFile.WriteSettingsAsync(Keys("a"));
        await Eventually.UntilAsync(async () => await VariantsStatusAsync(client, "sk-b") == HttpStatusCode.Unauthorized, "the keys saved after the deleted fleet never applied");
        await AssertServesAsync(client, readyBackends: 1);

        await fleetFile.WriteAsync(("first", first.Url), ("second", second.Url));
        await Eventually.UntilAsync(async () => (await VariantAsync(client)).ReadyBackends == 2, "the valid fleet file after the refused ones never applied");
        Assert.Equal(1, await ReloadAppliedAsync(client, "Mesh:FleetFile"));
        Assert.Single(gateway.Output.Split('\n'), line => line.Contains("which is not valid JSON", StringComparison.Ordinal));
        Assert.False(gateway.HasExited);
    }

    [Fact]
    public async Task A_keys_file_saved_empty_or_deleted_is_refused_and_the_keys_in_force_serve_on()
    {
        using var dead = new ClosedPort();
        using var fleetFile = await SettingsFile.CreateAsync(("first", dead.Url));
        using var keysFile = await SettingsFile.CreateAsync(Keys("a"));
        await using var gateway = await MeshFleet.StartGatewayAsync([], $"--Mesh:FleetFile={fleetFile.Path}", $"--Mesh:Auth:KeysFile={keysFile.Path}");
        using var client = new HttpClient { BaseAddress = gateway.Url };

        // An editor that empties the file before it writes the new keys.
        await keysFile.WriteTextAsync("");
        await WaitForLineAsync(gateway, $"{FileRefusal}Mesh:Auth:KeysFile names {keysFile.Path}, which is not valid JSON: The input does not contain any JSON tokens.");
        Assert.Equal(0, await ReloadAppliedAsync(client, "Mesh:Auth:KeysFile"));
        // A save of the other file reloads every setting, the keys too: without them the gateway would serve any
        // loopback client.
        await fleetFile.WriteAsync(("first", dead.Url), ("second", dead.Url));
        await Eventually.UntilAsync(
            async () => BackendSeries(await MetricsAsync(client), "second").Length > 0, "the fleet saved after the refused keys never applied");
        Assert.Equal(HttpStatusCode.OK, await VariantsStatusAsync(client, "sk-a"));
        Assert.Equal(HttpStatusCode.Unauthorized, await VariantsStatusAsync(client, key: null));

        keysFile.Delete();
        await WaitForLineAsync(gateway, $"{FileRefusal}Mesh:Auth:KeysFile names {keysFile.Path}, which does not exist.");
        await fleetFile.WriteAsync(("first", dead.Url));
        await Eventually.UntilAsync(
            async () => BackendSeries(await MetricsAsync(client), "second").Length == 0, "the fleet saved after the deleted keys never applied");
        Assert.Equal(HttpStatusCode.OK, await VariantsStatusAsync(client, "sk-a"));
        Assert.Equal(HttpStatusCode.Unauthorized, await VariantsStatusAsync(client, key: null));

        await keysFile.WriteSettingsAsync(Keys("a", "b"));
        await Eventually.UntilAsync(async () => await VariantsStatusAsync(client, "sk-b") == HttpStatusCode.OK, "the valid keys file after the refused ones never applied");
        Assert.Equal(1, await ReloadAppliedAsync(client, "Mesh:Auth:KeysFile"));
        Assert.False(gateway.HasExited);
    }

    private static Task WaitForLineAsync(HostProcess gateway, string line) =>
        Eventually.UntilAsync(() => Task.FromResult(gateway.Output.Contains(line, StringComparison.Ordinal)), $"never logged: {line}");

    private static async Task AssertServesAsync(HttpClient client, int readyBackends)
    {
        using var speech = await SpeakAsync(client);
        Assert.Equal(HttpStatusCode.OK, speech.StatusCode);
        Assert.NotEmpty(await speech.Content.ReadAsByteArrayAsync());
        Assert.Equal(readyBackends, (await VariantAsync(client)).ReadyBackends);
    }

    /// <summary>Keys settings with a key <c>sk-NAME</c> for each name.</summary>
    private static object Keys(params string[] names) =>
        new { Auth = new { Keys = names.Select(name => new { Name = name, Sha256 = ApiKeyStore.HashOf($"sk-{name}") }) } };

    private static async Task<HttpStatusCode> VariantsStatusAsync(HttpClient client, string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/v1/mesh/variants", UriKind.Relative));
        request.Headers.Authorization = key is null ? null : new("Bearer", key);
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>The gateway's log lines about a catalogue request to the backend at <paramref name="address"/>.</summary>
    private static IEnumerable<string> CatalogueLines(string[] lines, Uri address) =>
        lines.Where(line => line.Contains($"Backend {address} ", StringComparison.Ordinal) && line.Contains("/v1/", StringComparison.Ordinal));

    private static object Fleet(params (string Name, Uri Address)[] backends) =>
        new { Backends = backends.Select(b => new { b.Name, Address = b.Address.ToString(), Pool = "shared", Variant = "test" }) };

    private static Task<HttpResponseMessage> SpeakAsync(HttpClient client) =>
        client.PostAsJsonAsync(new Uri("/v1/audio/speech/stream/pcm", UriKind.Relative), new { voice = "alloy", input = "Still here." });

    private static async Task<VariantInfo> VariantAsync(HttpClient client) =>
        Assert.Single((await client.GetFromJsonAsync(new Uri("/v1/mesh/variants", UriKind.Relative), ContractsJsonContext.Default.VariantList))!.Data);

    private static Task<string> MetricsAsync(HttpClient client) => client.GetStringAsync(new Uri("/metrics", UriKind.Relative));

    /// <summary><c>mesh_config_last_reload_successful</c> of <paramref name="settings"/>: 1 when its latest save applied, 0 while refused.</summary>
    private static async Task<double> ReloadAppliedAsync(HttpClient client, string settings) =>
        MetricsText.Sum(await MetricsAsync(client), "mesh_config_last_reload_successful{", $"settings=\"{settings}\"");

    /// <summary>The samples of the per-backend gauges and counter that name <paramref name="backend"/>, sorted.</summary>
    private static string[] BackendSeries(string metrics, string backend) =>
        [.. metrics.Split('\n')
            .Where(line => line.StartsWith("mesh_backend_", StringComparison.Ordinal) && line.Contains($"backend=\"{backend}\"", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)];

    /// <summary>A watched settings file of the gateway (its fleet or keys file), deleted at the end of the test.</summary>
    private sealed class SettingsFile : IDisposable
    {
        private SettingsFile()
        {
        }

        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"mesh-settings-{Guid.NewGuid():N}.json");

        public static Task<SettingsFile> CreateAsync(params (string Name, Uri Address)[] backends) => CreateAsync(FleetSettings([], backends));

        public static async Task<SettingsFile> CreateAsync(object mesh)
        {
            var file = new SettingsFile();
            await file.WriteSettingsAsync(mesh);
            return file;
        }

        public Task WriteAsync(params (string Name, Uri Address)[] backends) => WriteAsync(new Dictionary<string, double>(), backends);

        public Task WriteAsync(Dictionary<string, double> weights, params (string Name, Uri Address)[] backends) =>
            WriteSettingsAsync(FleetSettings(weights, backends));

        public Task WriteSettingsAsync(object mesh) => WriteTextAsync(JsonSerializer.Serialize(new { Mesh = mesh }));

        /// <summary>Writes <paramref name="text"/> next to the file and renames it over, so the gateway never reads half of it.</summary>
        public async Task WriteTextAsync(string text)
        {
            var next = Path + ".next";
            await File.WriteAllTextAsync(next, text);
            File.Move(next, Path, overwrite: true);
        }

        public void Delete() => File.Delete(Path);

        public void Dispose() => Delete();

        private static object FleetSettings(Dictionary<string, double> weights, (string Name, Uri Address)[] backends) =>
            new { Fleet = Fleet(backends), Variants = new { Weights = weights } };
    }
}
