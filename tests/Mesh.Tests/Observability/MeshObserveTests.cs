using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Mesh.Tests.Integration;

namespace Mesh.Tests.Observability;

/// <summary>
/// <c>./mesh up --observe</c>: Prometheus on loopback scrapes the fleet through the target files the script keeps, and
/// stops with it; <c>MESH_STATE_DIR</c> is given relative to the working directory.
/// </summary>
public sealed class MeshObserveTests : IDisposable
{
    private readonly string _stateDir = Directory.CreateTempSubdirectory("mesh-observe-").FullName;
    private readonly StringBuilder _output = new();

    [Fact]
    public async Task Up_with_observe_runs_prometheus_over_the_fleet_and_stops_it_with_the_fleet()
    {
        var port = LoopbackPorts.Unused();
        var prometheusPort = LoopbackPorts.Unused();
        using var mesh = StartObservedUp(port, prometheusPort);
        try
        {
            var fleet = await WaitForFleetAsync(mesh);
            var prometheus = fleet.GetProperty("prometheus");
            var url = new Uri(prometheus.GetProperty("url").GetString()!);
            Assert.Equal(prometheusPort, url.Port);
            await WaitForOutputAsync(url.ToString().TrimEnd('/'));

            using var client = new HttpClient { BaseAddress = url };
            var targets = await WaitForTargetsAsync(client, 2);
            var backend = targets.Single(t => t.GetProperty("labels").GetProperty("job").GetString() == "mesh-backend").GetProperty("labels");
            Assert.Equal("default-b1", backend.GetProperty("backend").GetString());
            Assert.Equal("default", backend.GetProperty("variant").GetString());
            Assert.Equal("shared", backend.GetProperty("pool").GetString());

            var rules = await client.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/rules", UriKind.Relative));
            var loaded = rules.GetProperty("data").GetProperty("groups").EnumerateArray().SelectMany(g => g.GetProperty("rules").EnumerateArray()).ToArray();
            Assert.Equal(RuleFiles.Load().Count, loaded.Length);

            var status = await RunToEndAsync(StartMesh(prometheusPort, "status"));
            Assert.Contains(status.Split('\n'), line =>
                line.StartsWith("prometheus ", StringComparison.Ordinal) && line.Contains(url.ToString().TrimEnd('/'), StringComparison.Ordinal)
                && line.EndsWith("running, ready", StringComparison.Ordinal));

            await StopAsync(mesh);
            Assert.False(ProcFs.IsAlive(prometheus.GetProperty("pid").GetInt32()), "Prometheus outlived the fleet");
            Assert.False(LoopbackPorts.IsListening(prometheusPort), "Prometheus's port still accepts connections");
            foreach (var file in new[] { "gateway.json", "backends.json" })
            {
                Assert.Equal("[]", File.ReadAllText(Path.Combine(_stateDir, "prometheus", file)).Trim());
            }
        }
        finally
        {
            if (!mesh.HasExited)
            {
                mesh.Kill(entireProcessTree: true);
            }
        }
    }

    /// <summary>Prometheus killed outright is started again on its URL and scrapes the fleet again; it stops with the fleet.</summary>
    [Fact]
    public async Task Prometheus_killed_outright_comes_back_on_its_url()
    {
        var port = LoopbackPorts.Unused();
        var prometheusPort = LoopbackPorts.Unused();
        using var mesh = StartObservedUp(port, prometheusPort);
        try
        {
            var killedPid = (await WaitForFleetAsync(mesh)).GetProperty("prometheus").GetProperty("pid").GetInt32();
            using (var killed = Process.GetProcessById(killedPid))
            {
                killed.Kill();
            }

            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{prometheusPort}") };
            await Eventually.UntilAsync(
                () =>
                {
                    Assert.False(mesh.HasExited, "./mesh up exited when Prometheus was killed:\n" + Output);
                    return HttpProbe.AnswersAsync(client, "/-/ready");
                },
                "Prometheus did not come back on its URL:\n" + Output,
                TimeSpan.FromSeconds(90));
            await WaitForTargetsAsync(client, 2);

            var prometheus = (await WaitForFleetAsync(mesh)).GetProperty("prometheus");
            Assert.NotEqual(killedPid, prometheus.GetProperty("pid").GetInt32());
            Assert.Equal(1, prometheus.GetProperty("restarts").GetInt32());
            Assert.Contains($"prometheus started again (restart 1): pid {prometheus.GetProperty("pid").GetInt32()} at http://127.0.0.1:{prometheusPort}", Output, StringComparison.Ordinal);

            await StopAsync(mesh);
            Assert.False(ProcFs.IsAlive(prometheus.GetProperty("pid").GetInt32()), "the restarted Prometheus outlived the fleet");
        }
        finally
        {
            if (!mesh.HasExited)
            {
                mesh.Kill(entireProcessTree: true);
            }
        }
    }

    /// <summary>
    /// A fleet whose <c>./mesh up</c> was killed (its terminal closed) runs on; <c>./mesh down</c> stops all of it,
    /// Prometheus included, and empties the target files.
    /// </summary>
    [Fact]
    public async Task Down_stops_the_fleet_and_its_prometheus_after_up_was_killed()
    {
        var port = LoopbackPorts.Unused();
        var prometheusPort = LoopbackPorts.Unused();
        using var mesh = StartObservedUp(port, prometheusPort);
        int[] pids = [];
        try
        {
            var fleet = await WaitForFleetAsync(mesh);
            pids = [.. new[] { fleet.GetProperty("gateway"), fleet.GetProperty("prometheus") }.Concat(fleet.GetProperty("backends").EnumerateArray())
                .Select(process => process.GetProperty("pid").GetInt32())];
            mesh.Kill();
            await mesh.WaitForExitAsync();
            Assert.All(pids, pid => Assert.True(ProcFs.IsAlive(pid), $"process {pid} ended with ./mesh up"));

            Assert.Contains("fleet stopped", (await RunToEndAsync(StartMesh(prometheusPort, "down"))).Split('\n'));

            Assert.All(pids, pid => Assert.False(ProcFs.IsAlive(pid), $"process {pid} outlived ./mesh down"));
            Assert.False(File.Exists(Path.Combine(_stateDir, "fleet.json")), "./mesh down left the fleet file");
            Assert.False(LoopbackPorts.IsListening(prometheusPort), "Prometheus's port still accepts connections");
            foreach (var file in new[] { "gateway.json", "backends.json" })
            {
                Assert.Equal("[]", File.ReadAllText(Path.Combine(_stateDir, "prometheus", file)).Trim());
            }
        }
        finally
        {
            foreach (var pid in pids.Where(ProcFs.IsAlive))
            {
                using var survivor = Process.GetProcessById(pid);
                survivor.Kill();
            }
        }
    }

    public void Dispose() => Directory.Delete(_stateDir, recursive: true);

    private static async Task<JsonElement[]> WaitForTargetsAsync(HttpClient client, int count)
    {
        // prometheus.yml scrapes every 5 s; the first scrape of each target comes within one interval.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var answer = await client.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/targets?state=active", UriKind.Relative));
            var targets = answer.GetProperty("data").GetProperty("activeTargets").EnumerateArray().ToArray();
            if (targets.Length == count && targets.All(t => t.GetProperty("health").GetString() == "up"))
            {
                return targets;
            }

            Assert.True(DateTime.UtcNow < deadline, $"Prometheus did not scrape {count} targets: {answer}");
            await Task.Delay(250);
        }
    }

    /// <summary>Waits for a command that ends by itself; its output (which the process's handlers collect).</summary>
    private async Task<string> RunToEndAsync(Process process)
    {
        using (process)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await process.WaitForExitAsync(timeout.Token);
            Assert.True(process.ExitCode == 0, $"./mesh {string.Join(' ', process.StartInfo.ArgumentList.Skip(1))} exited with {process.ExitCode}:\n{Output}");
            return Output;
        }
    }

    private static async Task StopAsync(Process mesh)
    {
        using (var kill = Process.Start("kill", ["-TERM", mesh.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var exited = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await mesh.WaitForExitAsync(exited.Token);
    }

    /// <summary><c>./mesh up --observe</c> with one backend, the gateway on <paramref name="port"/> and Prometheus on <paramref name="prometheusPort"/>.</summary>
    private Process StartObservedUp(int port, int prometheusPort) =>
        StartMesh(prometheusPort, "up", "--observe", "--backends", "1", "--port", port.ToString(CultureInfo.InvariantCulture));

    private Process StartMesh(int prometheusPort, params string[] args)
    {
        // The state directory as a path relative to the working directory (Prometheus resolves the target files
        // relative to its own configuration file, not to where ./mesh up runs).
        var info = new ProcessStartInfo("bash")
        {
            WorkingDirectory = Path.GetDirectoryName(_stateDir)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.ArgumentList.Add(Path.Combine(RepoPaths.Root, "mesh"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["MESH_STATE_DIR"] = Path.GetFileName(_stateDir);
        info.Environment["MESH_CONFIGURATION"] = RepoPaths.Configuration;
        info.Environment["MESH_PROMETHEUS_PORT"] = prometheusPort.ToString(CultureInfo.InvariantCulture);
        // The test run already built everything; rebuilding under a running test host would race with it.
        info.Environment["MESH_SKIP_BUILD"] = "1";
        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private async Task<JsonElement> WaitForFleetAsync(Process mesh)
    {
        var path = Path.Combine(_stateDir, "fleet.json");
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline && !mesh.HasExited)
        {
            if (File.Exists(path))
            {
                using var document = JsonDocument.Parse(await File.ReadAllTextAsync(path));
                return document.RootElement.Clone();
            }

            await Task.Delay(200);
        }

        throw new InvalidOperationException("./mesh up --observe wrote no fleet.json:\n" + Output);
    }

    private async Task WaitForOutputAsync(string text)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"./mesh up did not print {text}:\n{Output}");
            await Task.Delay(100);
        }
    }

    private string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }
}
