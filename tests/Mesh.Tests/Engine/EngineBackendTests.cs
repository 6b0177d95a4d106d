using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mesh.Contracts;
using Mesh.Tests.Integration;

namespace Mesh.Tests.Engine;

/// <summary>A real backend process serving the generated Kokoro- and Piper-contract packages.</summary>
[Collection(GeneratedModelsDefinition.Name)]
public sealed class EngineBackendTests(GeneratedModels models)
{
    [Theory]
    [InlineData("kokoro", 24000, "af_tiny,am_tiny,bf_tiny")]
    [InlineData("piper", 22050, "tiny_a,tiny_b")]
    public async Task Backend_serves_a_package_at_its_native_rate_with_its_voices(string family, int rate, string voices)
    {
        var package = family == "kokoro" ? models.KokoroTiny : models.PiperTiny;
        await using var backend = await HostProcess.StartAsync(
            RepoPaths.BackendDll,
            ["--Backend:Name=engine-test"],
            new Dictionary<string, string> { ["MODEL"] = package, ["EXECUTION_PROVIDER"] = "cpu", ["WORKERS"] = "2" });
        await backend.WaitReadyAsync(TimeSpan.FromSeconds(60));
        using var client = new HttpClient { BaseAddress = backend.Url, Timeout = TimeSpan.FromSeconds(60) };

        var listed = await client.GetFromJsonAsync<VoicesBody>(new Uri("/v1/audio/voices", UriKind.Relative));
        Assert.Equal(voices.Split(','), listed!.Voices.Select(v => v.Id));

        using var response = await client.PostAsJsonAsync(
            new Uri("/v1/audio/speech", UriKind.Relative),
            // The package's own id: under OpenAI's names pcm comes at OpenAI's 24 kHz.
            new Dictionary<string, string> { ["model"] = Path.GetFileName(package), ["voice"] = "alloy", ["input"] = "Hello there. General test.", ["response_format"] = "pcm" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(rate.ToString(System.Globalization.CultureInfo.InvariantCulture), response.Headers.GetValues("X-PCM-Sample-Rate").Single());
        var pcm = await response.Content.ReadAsByteArrayAsync();
        Assert.True(pcm.Length > 2000, $"only {pcm.Length} bytes");

        var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Contains("mesh_engine_run_seconds_count{backend=\"engine-test\"", metrics, StringComparison.Ordinal);
        Assert.Contains("stage=\"model\",graph=\"none\"", metrics, StringComparison.Ordinal);
        Assert.Contains("requested=\"cpu\",active=\"cpu\",fallback_reason=\"none\"", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Int8_backend_states_its_precision_in_models_metrics_and_log()
    {
        var cache = Directory.CreateTempSubdirectory("mesh-int8-backend-");
        try
        {
            await using var backend = await HostProcess.StartAsync(
                RepoPaths.BackendDll,
                ["--Backend:Name=int8-test", "--Backend:Variant=int8"],
                new Dictionary<string, string>
                {
                    ["MODEL"] = models.KokoroTiny,
                    ["EXECUTION_PROVIDER"] = "cpu",
                    ["QUANTIZE"] = "int8",
                    ["QUANTIZE_CACHE_DIR"] = cache.FullName,
                });
            await backend.WaitReadyAsync(TimeSpan.FromSeconds(60));
            using var client = new HttpClient { BaseAddress = backend.Url, Timeout = TimeSpan.FromSeconds(60) };

            using var listed = JsonDocument.Parse(await client.GetStringAsync(new Uri("/v1/models", UriKind.Relative)));
            var tts1 = listed.RootElement.GetProperty("data").EnumerateArray().Single(m => m.GetProperty("id").GetString() == "tts-1");
            Assert.Equal("model", tts1.GetProperty("object").GetString());
            Assert.Equal("int8", tts1.GetProperty("precision").GetString());
            Assert.Equal("eager", tts1.GetProperty("graphs").GetString());
            var entry = Assert.Single(tts1.GetProperty("backends").EnumerateArray().ToArray());
            Assert.Equal("int8-test", entry.GetProperty("backend").GetString());
            Assert.Equal("int8", entry.GetProperty("variant").GetString());
            Assert.Equal("cpu", entry.GetProperty("provider").GetString());
            Assert.Equal("int8", entry.GetProperty("precision").GetString());
            Assert.Equal("eager", entry.GetProperty("graphs").GetString());

            using var response = await client.PostAsJsonAsync(
                new Uri("/v1/audio/speech", UriKind.Relative),
                new Dictionary<string, string> { ["model"] = "tts-1", ["voice"] = "alloy", ["input"] = "Hello there.", ["response_format"] = "pcm" });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
            Assert.Contains("stage=\"model\",graph=\"none\",precision=\"int8\"", metrics, StringComparison.Ordinal);
            Assert.Contains("mesh_engine_info{backend=\"int8-test\",variant=\"int8\",model=\"kokoro-tiny\",provider=\"cpu\",precision=\"int8\",graphs=\"eager\"} 1", metrics, StringComparison.Ordinal);
            Assert.Contains("QUANTIZE=int8 1 MatMul weights 307200 -> 86400 bytes", backend.Output, StringComparison.Ordinal);
        }
        finally
        {
            cache.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Package_with_a_missing_file_is_a_clear_error_and_never_ready()
    {
        var package = models.CopyOf(models.KokoroTiny);
        File.Delete(Path.Combine(package, "voices.bin"));
        await using var backend = await HostProcess.StartAsync(
            RepoPaths.BackendDll, [], new Dictionary<string, string> { ["MODEL"] = package, ["EXECUTION_PROVIDER"] = "cpu" });
        using var client = new HttpClient { BaseAddress = backend.Url, Timeout = TimeSpan.FromSeconds(5) };

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!backend.Output.Contains("will not become ready", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.Contains("missing its voices file", backend.Output, StringComparison.Ordinal);
        for (var i = 0; i < 5; i++)
        {
            using var ready = await client.GetAsync(new Uri("/readyz", UriKind.Relative));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.Contains("missing its voices file", await ready.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            await Task.Delay(200);
        }

        Assert.False(backend.HasExited);
    }

    [Fact]
    public async Task A_graph_that_does_not_parse_is_one_line_naming_it_and_the_backend_still_stops_cleanly()
    {
        var package = models.CopyOf(models.KokoroTiny);
        var graph = Directory.GetFiles(package, "*.onnx").Single();
        await File.WriteAllBytesAsync(graph, Enumerable.Repeat((byte)0xFF, 4096).ToArray());
        await using var backend = await HostProcess.StartAsync(
            RepoPaths.BackendDll, [], new Dictionary<string, string> { ["MODEL"] = package, ["EXECUTION_PROVIDER"] = "cpu" });

        await Eventually.UntilAsync(
            () => Task.FromResult(backend.Output.Contains("will not become ready", StringComparison.Ordinal)), "the backend logged no load failure");
        var exitCode = await backend.TerminateAsync(TimeSpan.FromSeconds(20));

        var failure = Assert.Single(backend.Output.Split('\n'), line => line.Contains("will not become ready", StringComparison.Ordinal));
        Assert.Contains(graph, failure, StringComparison.Ordinal);
        Assert.Equal(0, exitCode);
        Assert.DoesNotContain("Exception", backend.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sigterm_while_a_graph_is_loading_stops_the_backend_without_waiting_for_the_load()
    {
        var package = models.CopyOf(models.KokoroTiny);
        // Nobody writes the FIFO: a load that never ends.
        await GeneratedModels.ReplaceWithFifoAsync(Directory.GetFiles(package, "*.onnx").Single());

        await using var backend = await HostProcess.StartAsync(
            RepoPaths.BackendDll, [], new Dictionary<string, string> { ["MODEL"] = package, ["EXECUTION_PROVIDER"] = "cpu" });
        var stopping = Stopwatch.StartNew();
        var exitCode = await backend.TerminateAsync(TimeSpan.FromSeconds(60));

        // The readiness grace (3 s) and no more; waiting for the load took the whole drain timeout besides (30 s).
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(15), $"stopped in {stopping.Elapsed}");
        Assert.Equal(0, exitCode);
        Assert.DoesNotContain("Exception", backend.Output, StringComparison.Ordinal);
    }

    /// <remarks>
    /// The request waits for a load on demand, not in it: the load runs apart and holds nothing of the request's, so when
    /// the drain ends the request (with 503 draining) disposal has no request to wait for, and the process exits with the load still blocked
    /// in ONNX Runtime (which nothing interrupts). That a load ending after disposal disposes its model is in
    /// <see cref="Backend.ModelHostTests"/>.
    /// </remarks>
    [Fact]
    public async Task Sigterm_while_a_request_waits_for_a_load_on_demand_stops_the_backend_after_its_drain()
    {
        var package = models.CopyOf(models.KokoroTiny);
        await GeneratedModels.ReplaceWithFifoAsync(Directory.GetFiles(package, "*.onnx").Single());
        await using var backend = await HostProcess.StartAsync(
            RepoPaths.BackendDll,
            ["--Shutdown:ReadinessGraceSeconds=0", "--Shutdown:DrainTimeoutSeconds=1"],
            new Dictionary<string, string> { ["MODEL"] = package, ["EXECUTION_PROVIDER"] = "cpu", ["PRELOAD_MODEL"] = "false" },
            readyTimeout: TimeSpan.FromSeconds(60));
        using var client = new HttpClient { BaseAddress = backend.Url, Timeout = TimeSpan.FromSeconds(60) };

        // The request loads the model on demand, and the load waits for a graph nobody writes.
        var openingFifos = ProcFs.ThreadsOpeningFifos(backend.Pid);
        var request = client.PostAsJsonAsync(
            new Uri("/v1/audio/speech", UriKind.Relative),
            new Dictionary<string, string> { ["model"] = "tts-1", ["voice"] = "alloy", ["input"] = "Hello there.", ["response_format"] = "pcm" });
        await Eventually.UntilAsync(
            () => Task.FromResult(ProcFs.ThreadsOpeningFifos(backend.Pid) > openingFifos), "the request did not start loading the model");
        var stopping = Stopwatch.StartNew();
        var exitCode = await backend.TerminateAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(0, exitCode);
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(10), $"exited {stopping.Elapsed} after SIGTERM");
        Assert.DoesNotContain("Waiting up to", backend.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", backend.Output, StringComparison.Ordinal);
        // The request got the 503 draining envelope as the drain ended, before the host aborted the connections; it used
        // to be cut with no answer.
        using var response = await request;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("draining", (await response.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope))!.Error.Code);
    }

    private sealed record VoicesBody(IReadOnlyList<VoiceEntry> Voices);

    private sealed record VoiceEntry(string Id);
}
