using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mesh.ModelGeneration;

namespace Mesh.Tests.Integration;

/// <summary>Runs <c>./mesh up</c> for real and checks the fleet it starts, its status output, and that stopping it leaves nothing behind.</summary>
public sealed class MeshScriptTests : IDisposable
{
    private readonly string _stateDir = Directory.CreateTempSubdirectory("mesh-state-").FullName;

    // Every ./mesh a test starts; whatever failed, none is left running behind the test.
    private readonly List<Process> _started = [];

    [Theory]
    [InlineData("TERM")]
    [InlineData("INT")]
    public async Task Up_serves_speech_and_a_signal_stops_every_process(string signal)
    {
        var port = LoopbackPorts.Unused();
        var mesh = StartUp(port, backends: 2);
        await UpThenStopAsync(mesh, port, signal);
    }

    private async Task UpThenStopAsync(Process mesh, int port, string signal)
    {
        var fleet = await WaitForFleetAsync(mesh);

        var pids = FleetPids(fleet);
        Assert.Equal(3, pids.Length);
        Assert.All(fleet.GetProperty("backends").EnumerateArray(), b =>
        {
            Assert.Equal("shared", b.GetProperty("pool").GetString());
            Assert.Equal("default", b.GetProperty("variant").GetString());
        });

        using (var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") })
        {
            Assert.Equal(HttpStatusCode.OK, (await SpeakAsync(client, "Hello.")).Status);
        }

        var (statusExit, status, _) = await RunAsync("status");
        Assert.Equal(3, status.Split('\n').Count(line => line.Contains("running, ready", StringComparison.Ordinal)));
        Assert.Equal(0, statusExit);

        await SignalAndWaitAsync(mesh, signal);
        AssertFleetGone(pids, port, "./mesh up");
    }

    [Fact]
    public async Task A_rolling_restart_under_traffic_drops_nothing()
    {
        var port = LoopbackPorts.Unused();
        var mesh = StartUp(port, backends: 2);
        var before = BackendPids(await WaitForFleetAsync(mesh));
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var failures = new List<string>();
        var served = 0;
        using var stop = new CancellationTokenSource();
        async Task TrafficAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                using var response = await client.PostAsJsonAsync(
                    new Uri("/v1/audio/speech/stream/pcm", UriKind.Relative), new Dictionary<string, string> { ["voice"] = "alloy", ["input"] = "Rolling along." });
                var body = await response.Content.ReadAsByteArrayAsync();
                lock (failures)
                {
                    if (response.StatusCode != HttpStatusCode.OK || body.Length < 1000)
                    {
                        failures.Add($"{(int)response.StatusCode} with {body.Length} bytes");
                    }
                    else
                    {
                        served++;
                    }
                }
            }
        }

        var traffic = Enumerable.Range(0, 2).Select(_ => Task.Run(TrafficAsync)).ToArray();
        await Task.Delay(500);
        var (exitCode, output, errors) = await RestartAsync();
        await stop.CancelAsync();
        await Task.WhenAll(traffic);
        Assert.True(exitCode == 0, $"./mesh restart exited with {exitCode}: {errors}");
        Assert.Contains("rolling restart of every backend done", output, StringComparison.Ordinal);
        Assert.Empty(BackendPids(ReadFleet()).Intersect(before));
        Assert.Empty(failures);
        Assert.True(served > 20, $"only {served} requests served during the restart");
        Assert.All(before, pid => Assert.False(ProcFs.IsAlive(pid), $"old backend {pid} still running"));
    }

    /// <summary>
    /// Two <c>./mesh restart</c>s made together are both done, in turn, and each returns once its backend's new process
    /// is in the fleet and the old one has drained. They used to return at once, and the second request overwrote the
    /// first, so one of the two backends was not restarted.
    /// </summary>
    [Fact]
    public async Task Restarts_made_together_are_both_done_and_each_returns_once_its_backend_is_restarted()
    {
        var port = LoopbackPorts.Unused();
        var before = BackendPids(await WaitForFleetAsync(StartUp(port, backends: 2)));

        var restarts = await Task.WhenAll(RestartAsync("default-b1"), RestartAsync("default-b2"));

        var backends = ReadFleet().GetProperty("backends").EnumerateArray().ToArray();
        for (var i = 0; i < restarts.Length; i++)
        {
            var (exitCode, output, errors) = restarts[i];
            var name = backends[i].GetProperty("name").GetString();
            var pid = backends[i].GetProperty("pid").GetInt32();
            Assert.True(exitCode == 0, $"./mesh restart {name} exited with {exitCode}: {errors}");
            Assert.NotEqual(before[i], pid);
            Assert.Contains($"{name} restarted: pid {pid} at {backends[i].GetProperty("url").GetString()}", output, StringComparison.Ordinal);
            Assert.False(ProcFs.IsAlive(before[i]), $"the old {name} (pid {before[i]}) still runs");
        }
    }

    /// <summary>
    /// A rolling restart whose new process cannot get ready (the model package it was started with has gone since)
    /// exits 1 and says why, once <c>./mesh up</c> has stopped that process; the old one serves on. It used to exit 0 at
    /// once, whatever came of it.
    /// </summary>
    [Fact]
    public async Task A_restart_whose_new_backend_does_not_get_ready_exits_1_and_the_old_one_serves_on()
    {
        var package = ModelGenerator.Generate(Directory.CreateDirectory(Path.Combine(_stateDir, "models")).FullName, [ModelGenerator.KokoroTiny]).Single();
        var environment = new Dictionary<string, string> { ["MODEL"] = package, ["EXECUTION_PROVIDER"] = "cpu", ["MESH_READY_TIMEOUT_S"] = "10" };
        var port = LoopbackPorts.Unused();
        var mesh = StartMesh(environment, "up", "--backends", "1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var before = BackendPids(await WaitForFleetAsync(mesh));
        Directory.Delete(package, recursive: true);

        var (exitCode, output, errors) = await RunAsync(RestartCommandWithin, environment, "restart");

        Assert.Equal(1, exitCode);
        Assert.Contains("restart of default-b1 failed: ", output, StringComparison.Ordinal);
        Assert.Contains("did not answer 200 within 10s", output, StringComparison.Ordinal);
        Assert.Contains("mesh: rolling restart of every backend failed", errors, StringComparison.Ordinal);
        Assert.Equal(before, BackendPids(ReadFleet()));
        var (statusExit, status, _) = await RunAsync("status");
        Assert.True(statusExit == 0, status);
    }

    /// <summary>
    /// Ctrl-C on <c>./mesh restart</c> withdraws its request while <c>./mesh up</c> has not taken it (here, stopped) and
    /// says so; once taken, the restart goes on and says that, and <c>./mesh up</c> leaves no verdict for the requester
    /// that is gone. It used to end without a word, the request carried out anyway and its verdict left behind.
    /// </summary>
    [Fact]
    public async Task An_interrupted_restart_is_withdrawn_until_taken_and_leaves_nothing_behind()
    {
        var mesh = StartUp(LoopbackPorts.Unused(), backends: 1);
        var upLog = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var upErrors = Task.Run(async () =>
        {
            while (await mesh.StandardError.ReadLineAsync() is { } line)
            {
                upLog.Enqueue(line);
            }

            return string.Join('\n', upLog);
        });
        var before = BackendPids(await WaitForFleetAsync(mesh, FleetPath, mesh.StandardOutput.ReadToEndAsync(), upErrors));
        var requests = Path.Combine(_stateDir, "restart-requests");

        await SignalAsync(mesh.Id, "STOP");
        var (untakenExit, untaken) = await InterruptRestartAsync(() => true);
        await SignalAsync(mesh.Id, "CONT");
        Assert.True(untakenExit == 130, $"./mesh restart exited with {untakenExit}: {untaken}");
        Assert.Contains("interrupted before the rolling restart of every backend began; withdrawn", untaken, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(requests));

        var (takenExit, taken) = await InterruptRestartAsync(() => !Directory.EnumerateFiles(requests, "*.request").Any());
        Assert.True(takenExit == 130, $"./mesh restart exited with {takenExit}: {taken}");
        Assert.Contains("interrupted after the rolling restart of every backend began; ./mesh up goes on with it", taken, StringComparison.Ordinal);
        await Eventually.UntilAsync(
            () => Task.FromResult(upLog.Any(line => line.Contains("default-b1 restarted: pid", StringComparison.Ordinal)) && !Directory.EnumerateFileSystemEntries(requests).Any()),
            "./mesh up did not restart default-b1, or left its outcome in restart-requests",
            RestartWithin);
        Assert.NotEqual(before, BackendPids(ReadFleet()));
    }

    /// <summary>Starts <c>./mesh restart</c> and, once it waits for its request and <paramref name="interruptNow"/> holds, sends it Ctrl-C's SIGINT: its exit code and errors.</summary>
    private async Task<(int ExitCode, string Errors)> InterruptRestartAsync(Func<bool> interruptNow)
    {
        var restart = StartMesh("restart");
        var output = restart.StandardOutput.ReadToEndAsync();
        var requested = await restart.StandardError.ReadLineAsync();
        Assert.Contains("requested", requested, StringComparison.Ordinal);
        await Eventually.UntilAsync(() => Task.FromResult(interruptNow()), "./mesh up did not take the request", RestartWithin);
        await SignalAndWaitAsync(restart, "INT");
        await output;
        return (restart.ExitCode, await restart.StandardError.ReadToEndAsync());
    }

    /// <summary>
    /// Like compose's <c>restart: unless-stopped</c>: a backend killed outright is started again, on a new port that the
    /// gateway's fleet file, the fleet file and Prometheus's targets follow, while the gateway serves with the other
    /// backend; <c>./mesh up</c> runs on and counts the restart. It used to stop the whole fleet and exit 1.
    /// </summary>
    [Fact]
    public async Task A_backend_killed_outright_is_started_again_while_the_gateway_serves_with_the_other()
    {
        var port = LoopbackPorts.Unused();
        var mesh = StartUp(port, backends: 2);
        var errors = mesh.StandardError.ReadToEndAsync();
        var before = await WaitForFleetAsync(mesh, FleetPath, mesh.StandardOutput.ReadToEndAsync(), errors);
        var killed = before.GetProperty("backends")[0];
        var name = killed.GetProperty("name").GetString()!;
        var killedPid = killed.GetProperty("pid").GetInt32();
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

        KillOutright(killedPid);
        await Eventually.UntilAsync(
            async () =>
            {
                Assert.Equal(HttpStatusCode.OK, (await SpeakAsync(client, "One backend is down.")).Status);
                return BackendPids(ReadFleet())[0] != killedPid;
            },
            $"{name} was not started again",
            RestartWithin);

        Assert.False(mesh.HasExited, "./mesh up exited when a backend was killed");
        var after = ReadFleet();
        var restarted = after.GetProperty("backends")[0];
        var url = restarted.GetProperty("url").GetString()!;
        Assert.Equal(1, restarted.GetProperty("restarts").GetInt32());
        Assert.NotEqual(killed.GetProperty("url").GetString(), url);
        Assert.Equal(BackendPids(before)[1], BackendPids(after)[1]);
        Assert.Equal(0, after.GetProperty("backends")[1].GetProperty("restarts").GetInt32());
        Assert.Equal(FleetPids(before)[0], FleetPids(after)[0]);
        Assert.Contains($"\"{url}/\"", await File.ReadAllTextAsync(Path.Combine(_stateDir, "gateway.json")), StringComparison.Ordinal);
        Assert.Contains($"\"{new Uri(url).Authority}\"", await File.ReadAllTextAsync(Path.Combine(_stateDir, "prometheus", "backends.json")), StringComparison.Ordinal);
        // The gateway balances over both again: an answer from the restarted backend (the killed one answers nothing).
        await Eventually.UntilAsync(
            async () =>
            {
                var (status, backend) = await SpeakAsync(client, "Both are back.");
                Assert.Equal(HttpStatusCode.OK, status);
                return backend == name;
            },
            $"the gateway sent nothing to the restarted {name}",
            RestartWithin);

        var (statusExit, statusOutput, _) = await RunAsync("status");
        Assert.Equal(0, statusExit);
        Assert.Contains(statusOutput.Split('\n'), line =>
            line.StartsWith(name, StringComparison.Ordinal) && line.Contains("restarts 1 ", StringComparison.Ordinal) && line.EndsWith("running, ready", StringComparison.Ordinal));

        await SignalAndWaitAsync(mesh, "TERM");
        var log = await errors;
        Assert.Contains($"mesh: {name} (pid {killedPid}) exited with status 137 (SIGKILL) after ", log, StringComparison.Ordinal);
        Assert.Contains($"mesh: {name} started again (restart 1): pid {BackendPids(after)[0]} at {url}", log, StringComparison.Ordinal);
        AssertFleetGone(FleetPids(after), port, "./mesh up");
    }

    /// <summary>The gateway killed outright is started again on its URL, and serves with the backends it had.</summary>
    [Fact]
    public async Task The_gateway_killed_outright_comes_back_on_its_url()
    {
        var port = LoopbackPorts.Unused();
        var mesh = StartUp(port, backends: 1);
        var errors = mesh.StandardError.ReadToEndAsync();
        var before = await WaitForFleetAsync(mesh, FleetPath, mesh.StandardOutput.ReadToEndAsync(), errors);
        var killedPid = FleetPids(before)[0];
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

        KillOutright(killedPid);
        await Eventually.UntilAsync(
            () =>
            {
                Assert.False(mesh.HasExited, "./mesh up exited when the gateway was killed");
                return HttpProbe.AnswersAsync(client, "/readyz");
            },
            "the gateway did not come back on its URL",
            RestartWithin);

        Assert.Equal(HttpStatusCode.OK, (await SpeakAsync(client, "The gateway is back.")).Status);
        var after = ReadFleet();
        var gateway = after.GetProperty("gateway");
        Assert.NotEqual(killedPid, gateway.GetProperty("pid").GetInt32());
        Assert.Equal($"http://127.0.0.1:{port}", gateway.GetProperty("url").GetString());
        Assert.Equal(1, gateway.GetProperty("restarts").GetInt32());
        Assert.Equal(BackendPids(before), BackendPids(after));

        await SignalAndWaitAsync(mesh, "TERM");
        var log = await errors;
        Assert.Contains($"mesh: gateway (pid {killedPid}) exited with status 137 (SIGKILL) after ", log, StringComparison.Ordinal);
        Assert.Contains($"mesh: gateway started again (restart 1): pid {gateway.GetProperty("pid").GetInt32()} at http://127.0.0.1:{port}", log, StringComparison.Ordinal);
        AssertFleetGone(FleetPids(after), port, "./mesh up");
    }

    /// <summary>
    /// Restarts go on side by side: while two killed backends' successors take a slow start to get ready, the gateway
    /// killed after them serves again within a moment, and both backends come back together. The supervisor used to
    /// wait for each successor to get ready before it started anything else, so the gateway stayed down meanwhile and
    /// the second backend started only once the first was ready.
    /// </summary>
    [Fact]
    public async Task The_gateway_serves_again_while_killed_backends_get_ready_and_those_come_back_together()
    {
        var startupDelay = TimeSpan.FromSeconds(10);
        var port = LoopbackPorts.Unused();
        var mesh = StartMesh(
            new Dictionary<string, string> { ["Faults__StartupDelayMs"] = startupDelay.TotalMilliseconds.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            "up", "--backends", "2", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var errors = mesh.StandardError.ReadToEndAsync();
        var before = await WaitForFleetAsync(mesh, FleetPath, mesh.StandardOutput.ReadToEndAsync(), errors);
        var killedBackends = BackendPids(before);
        var killedGateway = FleetPids(before)[0];

        foreach (var pid in killedBackends)
        {
            KillOutright(pid);
        }

        // A successor starting sets its predecessor's log aside: from then on the old supervisor waited for it.
        await Eventually.UntilAsync(
            () => Task.FromResult(Directory.EnumerateFiles(Path.Combine(_stateDir, "logs"), "*.log.previous").Any()), "no backend was started again", RestartWithin);
        KillOutright(killedGateway);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(2) };
        await Eventually.UntilAsync(() => HttpProbe.AnswersAsync(client, "/healthz"), "the gateway did not come back", RestartWithin);
        Assert.Equal(killedBackends, BackendPids(ReadFleet()));

        await Eventually.UntilAsync(
            () => Task.FromResult(!BackendPids(ReadFleet()).Intersect(killedBackends).Any()), "the backends were not started again", RestartWithin);
        var after = ReadFleet();
        var backends = after.GetProperty("backends").EnumerateArray().ToArray();
        Assert.All(backends, backend => Assert.Equal(1, backend.GetProperty("restarts").GetInt32()));
        Assert.Equal(1, after.GetProperty("gateway").GetProperty("restarts").GetInt32());
        // Launched together, not the second one start-up delay after the first.
        var launchedApart = TimeSpan.FromSeconds(Math.Abs(backends[0].GetProperty("started").GetInt64() - backends[1].GetProperty("started").GetInt64()) / (double)ClockTicksPerSecond);
        Assert.True(launchedApart < startupDelay / 2, $"the backends were started again {launchedApart.TotalSeconds} s apart");
        await Eventually.UntilAsync(
            async () => (await SpeakAsync(client, "Everyone is back.")).Status == HttpStatusCode.OK, "the gateway served no speech from the restarted backends", RestartWithin);

        await SignalAndWaitAsync(mesh, "TERM");
        var log = await errors;
        var gatewayBack = log.IndexOf("mesh: gateway started again (restart 1)", StringComparison.Ordinal);
        Assert.True(gatewayBack >= 0, log);
        Assert.All(backends, backend =>
            Assert.True(log.IndexOf($"mesh: {backend.GetProperty("name").GetString()} started again (restart 1)", StringComparison.Ordinal) > gatewayBack, log));
        AssertFleetGone(FleetPids(after), port, "./mesh up");
    }

    /// <summary>
    /// A process that cannot start again (the gateway, its key file gone) is not started in a hot loop: each wait is twice
    /// the last, from 100 ms (Docker's back-off), the log says why each start failed, and the process comes back once it
    /// can start.
    /// </summary>
    [Fact]
    public async Task A_process_that_cannot_start_again_is_retried_with_a_doubling_back_off_until_it_starts()
    {
        var keys = Path.Combine(_stateDir, "keys.json");
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("a key"u8));
        await File.WriteAllTextAsync(keys, JsonSerializer.Serialize(new { Mesh = new { Auth = new { Keys = new[] { new { Name = "team-a", Sha256 = hash } } } } }));
        var port = LoopbackPorts.Unused();
        var mesh = StartMesh("up", "--backends", "1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--keys", keys);
        var errors = mesh.StandardError.ReadToEndAsync();
        var killedPid = FleetPids(await WaitForFleetAsync(mesh, FleetPath, mesh.StandardOutput.ReadToEndAsync(), errors))[0];

        File.Move(keys, keys + ".gone");
        KillOutright(killedPid);
        // The fourth start comes after three that failed, 0.1 + 0.2 + 0.4 s of back-off after their exits.
        await Eventually.UntilAsync(
            () => Task.FromResult(ReadFleet().GetProperty("gateway").GetProperty("restarts").GetInt32() >= 4), "the gateway was not tried four times", RestartWithin);
        File.Move(keys + ".gone", keys);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await Eventually.UntilAsync(() => HttpProbe.AnswersAsync(client, "/readyz"), "the gateway did not come back once its key file was back", RestartWithin);

        Assert.False(mesh.HasExited, "./mesh up exited while the gateway could not start");
        await SignalAndWaitAsync(mesh, "TERM");
        var log = await errors;
        var backoffs = System.Text.RegularExpressions.Regex.Matches(log, @"^mesh: gateway \(pid \d+\) exited with .* starting it again in ([0-9.]+) s$", System.Text.RegularExpressions.RegexOptions.Multiline)
            .Select(match => match.Groups[1].Value)
            .ToArray();
        Assert.Equal(["0.1", "0.2", "0.4", "0.8"], backoffs.Take(4));
        Assert.Contains($"Configuration refused: Mesh:Auth:KeysFile names {keys}, which does not exist.", log, StringComparison.Ordinal);
    }

    /// <summary>
    /// The state directory holds the fleet file the running gateway watches: a second fleet writing its own there would
    /// move the first gateway onto the second's backends, and leave it on dead ones when the second stops.
    /// </summary>
    [Fact]
    public async Task A_second_up_on_the_same_state_directory_refuses_and_leaves_the_running_fleet_alone()
    {
        var port = LoopbackPorts.Unused();
        var mesh = StartUp(port, backends: 1);
        await WaitForFleetAsync(mesh);
        var gatewayConfig = Path.Combine(_stateDir, "gateway.json");
        var fleetBefore = await File.ReadAllTextAsync(gatewayConfig);

        var secondPort = LoopbackPorts.Unused();
        var second = StartUp(secondPort, backends: 1);
        var output = second.StandardOutput.ReadToEndAsync();
        var errors = second.StandardError.ReadToEndAsync();
        using (var refused = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await second.WaitForExitAsync(refused.Token);
        }

        Assert.NotEqual(0, second.ExitCode);
        Assert.Contains("MESH_STATE_DIR", await errors, StringComparison.Ordinal);
        Assert.Equal(fleetBefore, await File.ReadAllTextAsync(gatewayConfig));
        Assert.False(LoopbackPorts.IsListening(secondPort), $"the refused ./mesh up started a gateway on {secondPort}");

        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        Assert.Equal(HttpStatusCode.OK, (await SpeakAsync(client, "Still here.")).Status);
    }

    /// <summary>The help names the paths of the state directory in effect (MESH_STATE_DIR), not those of the default.</summary>
    [Fact]
    public async Task Help_lists_the_commands_and_the_paths_of_the_state_directory_in_effect()
    {
        var help = await RunToEndAsync(StartMesh("--help"));

        Assert.Contains("up [--backends N] [--port P]", help, StringComparison.Ordinal);
        Assert.Contains("test", help, StringComparison.Ordinal);
        Assert.Contains("status", help, StringComparison.Ordinal);
        Assert.Contains("\n  down ", help, StringComparison.Ordinal);
        Assert.Contains($"MESH_STATE_DIR (default .mesh; now {_stateDir}:", help, StringComparison.Ordinal);
        Assert.Contains($"(from {_stateDir}/fleet.json)", help, StringComparison.Ordinal);
        Assert.Contains($"{_stateDir}/soak/.", help, StringComparison.Ordinal);
        Assert.DoesNotContain(".mesh/", help, StringComparison.Ordinal);
    }

    /// <summary>
    /// <c>--help</c> or <c>-h</c> after a command prints the usage and exits 0, starting nothing: <c>test --help</c>
    /// used to restore and build the solution, then fail in <c>dotnet test</c>, and <c>soak --help</c> was refused.
    /// </summary>
    [Theory]
    [InlineData("up --help")]
    [InlineData("test --help")]
    [InlineData("test -h")]
    [InlineData("status --help")]
    [InlineData("down -h")]
    [InlineData("restart --help")]
    [InlineData("soak --help")]
    [InlineData("soak --minutes 1 -h")]
    [InlineData("bench --help")]
    [InlineData("bench pipeline --help")]
    public async Task Help_after_a_command_prints_the_usage_and_exits_0(string commandLine)
    {
        var (exitCode, output, errors) = await RunAsync(commandLine.Split(' '));

        Assert.Equal(0, exitCode);
        Assert.StartsWith("Usage: ./mesh <command> [options]", output, StringComparison.Ordinal);
        Assert.Empty(errors);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_stateDir));
    }

    /// <summary>A port held by a service that does not speak HTTP is as taken as one a web server holds: refused before any backend starts.</summary>
    [Fact]
    public async Task Up_refuses_a_port_any_listener_holds_before_starting_anything()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        var (exitCode, _, errors) = await RunAsync("up", "--backends", "1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));

        Assert.Equal(1, exitCode);
        Assert.StartsWith($"mesh: port {port} is already in use", errors, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateDirectories(_stateDir, "logs", SearchOption.AllDirectories));
    }

    /// <summary>
    /// SIGTERM for <c>./mesh bench</c> (kill, timeout, the end of a CI job) stops the bench and the fleet it started;
    /// it used to end only the shell, and the bench ran on to its end with its fleet.
    /// </summary>
    [Fact]
    public async Task Terminating_bench_stops_the_bench_and_its_fleet()
    {
        var mesh = StartMesh("bench", "smoke", "--out", Path.Combine(_stateDir, "bench"));
        List<int> processes = [];
        try
        {
            var errors = mesh.StandardError.ReadToEndAsync();
            using (var ready = new CancellationTokenSource(TimeSpan.FromSeconds(90)))
            {
                while (await mesh.StandardOutput.ReadLineAsync(ready.Token) is { } line && !line.StartsWith("fleet ready", StringComparison.Ordinal))
                {
                }
            }

            processes = Descendants(mesh.Id);
            Assert.True(processes.Count >= 4, $"expected the bench and its fleet under ./mesh bench, found {processes.Count} processes");

            await SignalAndWaitAsync(mesh, "TERM");
            await AssertAllGoneAsync(processes);
            _ = await errors;
        }
        finally
        {
            // Whatever failed above, leave no bench or fleet running behind the test.
            KillSurvivors(processes);
        }
    }

    /// <summary>
    /// A fleet file left by a ./mesh up that was killed outright describes no fleet: status says so and exits 1 (a
    /// health check must not pass on it), and restart refuses without leaving a request for the next fleet.
    /// </summary>
    [Fact]
    public async Task Status_and_restart_fail_on_a_fleet_file_whose_mesh_up_is_gone()
    {
        await File.WriteAllTextAsync(FleetPath, $$"""
            {"mesh": {"pid": {{ExitedPid()}}}, "gateway": {"pid": {{ExitedPid()}}, "url": "http://127.0.0.1:1"},
             "backends": [{"name": "default-b1", "pid": {{ExitedPid()}}, "url": "http://127.0.0.1:1", "pool": "shared", "variant": "default"}]}
            """);

        var (statusExit, status, statusErrors) = await RunAsync("status");
        Assert.Equal(1, statusExit);
        Assert.Equal(2, status.Split('\n').Count(line => line.Contains("dead", StringComparison.Ordinal)));
        Assert.Contains("is not running", statusErrors, StringComparison.Ordinal);

        var (restartExit, _, restartErrors) = await RunAsync("restart", "default-b1");
        Assert.Equal(1, restartExit);
        Assert.Contains("is not running", restartErrors, StringComparison.Ordinal);
        var requests = Path.Combine(_stateDir, "restart-requests");
        Assert.False(Directory.Exists(requests) && Directory.EnumerateFileSystemEntries(requests).Any(), "a refused restart left its request behind");
    }

    /// <summary>
    /// A ./mesh up killed outright leaves its restart requests and its successors' reports in the state directory, each
    /// named by a PID that may since have gone to another process: the next ./mesh up starts without them, so none is
    /// read for a process of its own fleet. The successors' reports used to stay.
    /// </summary>
    [Fact]
    public async Task Up_starts_without_the_requests_and_reports_a_killed_up_left()
    {
        var requests = Directory.CreateDirectory(Path.Combine(_stateDir, "restart-requests")).FullName;
        var successors = Directory.CreateDirectory(Path.Combine(_stateDir, "successors")).FullName;
        var stalePid = ExitedPid();
        await File.WriteAllTextAsync(Path.Combine(requests, $"1-{stalePid}.request"), "default-b1\n");
        await File.WriteAllTextAsync(Path.Combine(successors, $"{stalePid}.why"), "why a successor of the killed fleet did not get ready\n");
        await File.WriteAllTextAsync(Path.Combine(successors, $"{stalePid}.url"), "http://127.0.0.1:1\n");

        await WaitForFleetAsync(StartUp(LoopbackPorts.Unused(), backends: 1));

        Assert.Empty(Directory.EnumerateFileSystemEntries(requests));
        Assert.Empty(Directory.EnumerateFileSystemEntries(successors));
    }

    /// <summary>
    /// <c>./mesh down</c>, from another terminal, stops the fleet of a running <c>./mesh up</c> (which ends as on
    /// SIGTERM), removes the fleet file and frees the port; with no fleet it says so and exits 0 as well.
    /// </summary>
    [Fact]
    public async Task Down_stops_the_fleet_of_an_up_running_elsewhere()
    {
        var port = LoopbackPorts.Unused();
        var mesh = StartUp(port, backends: 1);
        var pids = FleetPids(await WaitForFleetAsync(mesh));

        var (exitCode, output, errors) = await RunAsync("down");

        Assert.True(exitCode == 0, errors);
        Assert.Equal("fleet stopped", output.Trim());
        using (var exited = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            await mesh.WaitForExitAsync(exited.Token);
        }

        AssertFleetGone(pids, port, "./mesh down");

        var (againExit, again, _) = await RunAsync("down");
        Assert.Equal(0, againExit);
        Assert.Equal($"no fleet is running (no {FleetPath})", again.Trim());
    }

    /// <summary>
    /// An up still starting has written no fleet file yet: <c>./mesh down</c> finds it by the state directory's lock
    /// and stops it with what it started. Before, down said no fleet was running, and the fleet came up after it.
    /// </summary>
    [Fact]
    public async Task Down_stops_an_up_that_is_still_starting()
    {
        var port = LoopbackPorts.Unused();
        var mesh = StartMesh(
            new Dictionary<string, string> { ["Faults__StartupDelayMs"] = "600000" },
            "up", "--backends", "1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        // The backend runs, its model load held back: up waits for it, with no fleet file. (Only the backend: a child
        // seen earlier may be a subshell of the option checks, before up holds its lock.)
        await Eventually.UntilAsync(
            () => Task.FromResult(ProcFs.Children(mesh.Id).Any(child => ProcFs.CommandLine(child).Contains("Mesh.Backend.Host", StringComparison.Ordinal))),
            "./mesh up started no backend");
        var started = ProcFs.Children(mesh.Id);
        Assert.False(File.Exists(FleetPath));

        var (exitCode, output, errors) = await RunAsync("down");

        Assert.True(exitCode == 0, errors);
        Assert.Equal("fleet stopped", output.Trim());
        using (var exited = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            await mesh.WaitForExitAsync(exited.Token);
        }

        await AssertAllGoneAsync([.. started]);
    }

    /// <summary>
    /// A fleet file outlives its processes, and their PIDs go to other processes: <c>./mesh down</c> signals a PID
    /// only while it names the process the fleet started (the same start time), and leaves any other alone.
    /// </summary>
    [Fact]
    public async Task Down_leaves_alone_a_process_that_has_taken_a_pid_of_the_fleet()
    {
        using var stranger = Process.Start("sleep", "60")!;
        try
        {
            await File.WriteAllTextAsync(FleetPath, $$"""
                {"mesh": {"pid": {{ExitedPid()}}, "started": 1},
                 "gateway": {"pid": {{stranger.Id}}, "started": {{ProcFs.StartTime(stranger.Id) - 1}}, "url": "http://127.0.0.1:1"}, "backends": []}
                """);

            var (exitCode, output, errors) = await RunAsync("down");

            Assert.Equal(0, exitCode);
            Assert.Contains($"pid {stranger.Id} is no longer the fleet's gateway (another process has it); left alone", errors, StringComparison.Ordinal);
            Assert.StartsWith("no process of the fleet was running", output, StringComparison.Ordinal);
            Assert.False(stranger.WaitForExit(500), "./mesh down signalled a process the fleet did not start");
            Assert.False(File.Exists(FleetPath), "./mesh down left the fleet file");
        }
        finally
        {
            stranger.Kill();
        }
    }

    /// <summary>
    /// A request that hangs does not hang its soak client: each is bounded by --timeout, counted by kind when it
    /// fails, and the client goes on after a pause; every client's requests and errors are in soak.json, and a soak
    /// with more than 0.1% of its requests failed exits 1.
    /// </summary>
    [Fact]
    public async Task Soak_clients_count_timed_out_requests_go_on_and_fail_the_soak()
    {
        var (exitCode, _, errors) = await RunAsync(
            new Dictionary<string, string> { ["Faults__SentenceDelayMs"] = "3000" }, "soak", "--seconds", "6", "--interval", "2", "--timeout", "1");

        Assert.Equal(1, exitCode);
        Assert.Contains("requests failed", errors, StringComparison.Ordinal);
        var clients = ReadSoakReport().GetProperty("requests").EnumerateObject().ToArray();
        Assert.Equal(["mp3", "opus", "pcm-stream", "sse", "wav"], clients.Select(c => c.Name));
        Assert.All(clients, client =>
        {
            var requests = client.Value.GetProperty("requests").GetInt32();
            Assert.True(requests >= 2, $"{client.Name} stopped after its first failed request: {client.Value}");
            Assert.Equal(requests, client.Value.GetProperty("errors").GetInt32());
            Assert.Equal(requests, client.Value.GetProperty("errors_by_kind").GetProperty("timeout").GetInt32());
        });
    }

    /// <summary>
    /// A short soak in which every request succeeds passes: its RSS growth (noisy over seconds) is reported, not judged.
    /// </summary>
    [Fact]
    public async Task A_short_soak_without_failed_requests_passes_and_reports_its_growth_unjudged()
    {
        var (exitCode, output, errors) = await RunAsync(new Dictionary<string, string>(), "soak", "--seconds", "8", "--interval", "2");

        Assert.True(exitCode == 0, errors);
        Assert.Contains("not judged under 10 minutes", output, StringComparison.Ordinal);
        var report = ReadSoakReport();
        Assert.Empty(report.GetProperty("failures").EnumerateArray());
        Assert.All(report.GetProperty("requests").EnumerateObject(), client =>
        {
            Assert.True(client.Value.GetProperty("requests").GetInt32() > 0, client.Name);
            Assert.Equal(0, client.Value.GetProperty("errors").GetInt32());
        });
        Assert.All(report.GetProperty("processes").EnumerateObject(), process => process.Value.GetProperty("rss_growth_pct").GetDouble());
    }

    /// <summary>
    /// A process of the soak's fleet that dies ends the soak at once, failed and with its report: <c>./mesh up</c>
    /// starts it again, but as another process, which the soak's samples would mix up. It used to end with exit 2
    /// and no report, on the first sample of the dead process.
    /// </summary>
    [Fact]
    public async Task A_soak_whose_fleet_loses_a_backend_stops_and_fails_with_its_report()
    {
        var soak = StartMesh("soak", "--seconds", "300", "--interval", "1");
        var output = soak.StandardOutput.ReadToEndAsync();
        var errors = soak.StandardError.ReadToEndAsync();
        var fleet = await WaitForFleetAsync(soak, SoakFleetPath, output, errors);
        var backend = fleet.GetProperty("backends")[0];
        await WaitForSoakRequestsAsync();

        KillOutright(backend.GetProperty("pid").GetInt32());

        using (var ended = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await soak.WaitForExitAsync(ended.Token);
        }

        Assert.Equal(1, soak.ExitCode);
        Assert.Contains($"the soak's fleet lost {backend.GetProperty("name").GetString()} (pid {backend.GetProperty("pid").GetInt32()})", await errors, StringComparison.Ordinal);
        var report = ReadSoakReport();
        Assert.StartsWith("the fleet lost", report.GetProperty("failures")[0].GetString(), StringComparison.Ordinal);
        Assert.True(report.GetProperty("requests").EnumerateObject().Sum(c => c.Value.GetProperty("requests").GetInt32()) > 0);
    }

    /// <summary>
    /// SIGTERM for <c>./mesh soak</c> (kill, timeout, the end of a CI job) stops its fleet and its clients, which no
    /// longer end at their first failed request (the refused connection once the fleet is gone).
    /// </summary>
    [Fact]
    public async Task Terminating_a_soak_stops_its_fleet_and_its_clients()
    {
        var soak = StartMesh("soak", "--seconds", "300", "--interval", "1");
        List<int> processes = [];
        try
        {
            var output = soak.StandardOutput.ReadToEndAsync();
            var errors = soak.StandardError.ReadToEndAsync();
            await WaitForFleetAsync(soak, SoakFleetPath, output, errors);
            await WaitForSoakRequestsAsync();
            processes = Descendants(soak.Id);
            Assert.True(processes.Count >= 4, $"expected the fleet and the clients under ./mesh soak, found {processes.Count} processes");

            await SignalAndWaitAsync(soak, "TERM");
            await AssertAllGoneAsync(processes);
        }
        finally
        {
            KillSurvivors(processes);
        }
    }

    /// <summary>
    /// A fleet that never gets ready (a model that takes ten minutes to load, and 3 s allowed) fails soak and bench
    /// pipeline with the end of the fleet's log, which says what did not get ready; nothing is run against it. They
    /// used to go on against it once their own wait ran out.
    /// </summary>
    [Theory]
    [InlineData("soak --minutes 1 --interval 1", "soak")]
    [InlineData("bench pipeline --repeats 1", "bench")]
    public async Task Soak_and_bench_pipeline_fail_with_the_fleet_log_when_their_fleet_never_gets_ready(string commandLine, string directory)
    {
        var (exitCode, _, errors) = await RunAsync(
            new Dictionary<string, string> { ["Faults__StartupDelayMs"] = "600000", ["MESH_READY_TIMEOUT_S"] = "3" }, commandLine.Split(' '));

        Assert.Equal(1, exitCode);
        Assert.StartsWith("mesh: the fleet it started did not get ready; the end of its log", errors, StringComparison.Ordinal);
        Assert.Contains("/readyz did not answer 200 within 3s", errors, StringComparison.Ordinal);
        Assert.Equal(["fleet.log"], Directory.EnumerateFiles(Path.Combine(_stateDir, directory)).Select(Path.GetFileName));
    }

    /// <summary>
    /// A command line the script cannot run exits 2 (as the model tools and the benchmarks do; 1 is for work that
    /// failed) with one line naming the problem, and starts nothing: a missing value is not taken from the next option.
    /// </summary>
    [Theory]
    [InlineData("up --port", "--port needs a number")]
    [InlineData("up --keys --observe", "--keys needs a file")]
    [InlineData("up --port 0", "--port must be 1-65535")]
    [InlineData("up --bogus", "unknown option for up: --bogus")]
    [InlineData("up --backends 1 --port {port} --variants int8:90,bogus:10", "variant 'bogus': unknown word 'bogus'")]
    [InlineData("up --backends 1 --port {port} --variants fp32:1,fp32:2", "--variants names 'fp32' twice")]
    [InlineData("up --backends 1 --port {port} --variants default:1.2.3", "--variants must look like")]
    [InlineData("bench quick --ab int8,bogus", "variant 'bogus': unknown word 'bogus'")]
    [InlineData("soak --minutes", "--minutes needs a number")]
    [InlineData("soak --minutes 1 --interval 0", "--interval must be a positive whole number")]
    [InlineData("soak --minutes 1 --pause soon", "--pause must be a number of seconds")]
    [InlineData("soak --seconds 0", "--seconds must be a positive whole number")]
    [InlineData("soak --seconds 5 --interval 10", "--interval must not be longer than the soak")]
    [InlineData("soak --minutes 1 --timeout 0", "--timeout must be a positive whole number")]
    [InlineData("down --force", "down takes no arguments")]
    [InlineData("bench", "usage: ./mesh bench")]
    [InlineData("bench pipeline --repeats 0", "--repeats must be a positive whole number")]
    [InlineData("bench quick --out --target http://127.0.0.1:1", "--out needs a directory")]
    [InlineData("bench pipeline --bogus", "unknown option for bench pipeline: --bogus")]
    [InlineData("test --bogus", "unknown option for test: --bogus")]
    [InlineData("test --filter", "--filter needs an expression")]
    [InlineData("test --filter Name~Mesh --no-build", "unknown option for test: --no-build")]
    [InlineData("bogus", "unknown command 'bogus'")]
    [InlineData("status --json", "status takes no arguments")]
    [InlineData("restart --all", "unknown option for restart: --all")]
    [InlineData("restart default-b1 default-b2", "restart takes one backend name at most")]
    [InlineData("restart default-b1 --timeout 0", "--timeout must be a positive whole number of seconds")]
    public async Task A_command_line_it_cannot_run_exits_2_and_starts_nothing(string commandLine, string message)
    {
        var port = LoopbackPorts.Unused().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var (exitCode, _, errors) = await RunAsync(commandLine.Replace("{port}", port, StringComparison.Ordinal).Split(' '));

        Assert.Equal(2, exitCode);
        Assert.StartsWith("mesh: " + message, errors, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateDirectories(_stateDir, "logs", SearchOption.AllDirectories));
    }

    public void Dispose()
    {
        foreach (var process in _started)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            process.Dispose();
        }

        Directory.Delete(_stateDir, recursive: true);
    }

    private string FleetPath => Path.Combine(_stateDir, "fleet.json");

    private JsonElement ReadFleet()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(FleetPath));
        return document.RootElement.Clone();
    }

    private string SoakFleetPath => Path.Combine(_stateDir, "soak", "fleet", "fleet.json");

    private JsonElement ReadSoakReport()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(_stateDir, "soak", "soak.json")));
        return document.RootElement.Clone();
    }

    /// <summary>Waits until a soak client has finished a request, so that all of them run.</summary>
    private Task WaitForSoakRequestsAsync()
    {
        var requests = Path.Combine(_stateDir, "soak", "requests-wav.txt");
        return Eventually.UntilAsync(() => Task.FromResult(File.Exists(requests) && new FileInfo(requests).Length > 0), "no soak request finished");
    }

    /// <summary>The unit of a process's start time in the fleet file (Linux's USER_HZ).</summary>
    private const int ClockTicksPerSecond = 100;

    /// <summary>How long a killed process of the fleet may take to serve again, on a loaded machine.</summary>
    private static readonly TimeSpan RestartWithin = TimeSpan.FromSeconds(90);

    /// <summary>How long <c>./mesh restart</c> may wait, on a loaded machine: its backends' restarts, and maybe another's first.</summary>
    private static readonly TimeSpan RestartCommandWithin = TimeSpan.FromMinutes(3);

    /// <summary>A short WAV through <paramref name="client"/>: the status and the backend that answered (<c>X-Mesh-Backend</c>).</summary>
    private static async Task<(HttpStatusCode Status, string? Backend)> SpeakAsync(HttpClient client, string input)
    {
        using var response = await client.PostAsJsonAsync(
            new Uri("/v1/audio/speech", UriKind.Relative),
            new Dictionary<string, string> { ["model"] = "tts-1", ["voice"] = "alloy", ["input"] = input, ["response_format"] = "wav" });
        await response.Content.ReadAsByteArrayAsync();
        return (response.StatusCode, response.Headers.TryGetValues("X-Mesh-Backend", out var backends) ? backends.Single() : null);
    }

    /// <summary>SIGKILL for a process of the fleet: a crash, with no chance to drain.</summary>
    private static void KillOutright(int pid)
    {
        using var process = Process.GetProcessById(pid);
        process.Kill();
    }

    private static int[] BackendPids(JsonElement fleet) =>
        [.. fleet.GetProperty("backends").EnumerateArray().Select(b => b.GetProperty("pid").GetInt32())];

    /// <summary>No process of the fleet runs, its fleet file is gone and its port is free.</summary>
    private void AssertFleetGone(int[] pids, int port, string stoppedBy)
    {
        Assert.All(pids, pid => Assert.False(ProcFs.IsAlive(pid), $"process {pid} outlived {stoppedBy}"));
        Assert.False(File.Exists(FleetPath), $"{stoppedBy} left the fleet file");
        Assert.False(LoopbackPorts.IsListening(port), $"port {port} still accepts connections");
    }

    private static int[] FleetPids(JsonElement fleet) => [fleet.GetProperty("gateway").GetProperty("pid").GetInt32(), .. BackendPids(fleet)];

    /// <summary>The PID of a process that has ended.</summary>
    private static int ExitedPid()
    {
        using var gone = Process.Start("true")!;
        gone.WaitForExit();
        return gone.Id;
    }

    /// <summary><c>./mesh up</c> with <paramref name="backends"/> backends and the gateway on <paramref name="port"/>.</summary>
    private Process StartUp(int port, int backends) =>
        StartMesh("up", "--backends", backends.ToString(System.Globalization.CultureInfo.InvariantCulture), "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));

    private Process StartMesh(params string[] args) => StartMesh(new Dictionary<string, string>(), args);

    /// <summary>Starts <c>./mesh</c> on this test's state directory, with <paramref name="environment"/> added.</summary>
    private Process StartMesh(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var info = new ProcessStartInfo("bash")
        {
            WorkingDirectory = RepoPaths.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.ArgumentList.Add(Path.Combine(RepoPaths.Root, "mesh"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["MESH_STATE_DIR"] = _stateDir;
        info.Environment["MESH_CONFIGURATION"] = RepoPaths.Configuration;
        // The test run already built everything; rebuilding under a running test host would race with it.
        info.Environment["MESH_SKIP_BUILD"] = "1";
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        var process = Process.Start(info)!;
        _started.Add(process);
        return process;
    }

    private Task<JsonElement> WaitForFleetAsync(Process mesh) =>
        WaitForFleetAsync(mesh, FleetPath, mesh.StandardOutput.ReadToEndAsync(), mesh.StandardError.ReadToEndAsync());

    /// <summary>The fleet file at <paramref name="path"/> once <paramref name="mesh"/> (up, or a command that starts a fleet) writes it.</summary>
    private static async Task<JsonElement> WaitForFleetAsync(Process mesh, string path, Task<string> output, Task<string> errors)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            if (File.Exists(path))
            {
                using var document = JsonDocument.Parse(await File.ReadAllTextAsync(path));
                return document.RootElement.Clone();
            }

            if (mesh.HasExited)
            {
                Assert.Fail($"./mesh exited with {mesh.ExitCode}: {await output}{await errors}");
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"./mesh did not write {path}");
    }

    private static async Task SignalAndWaitAsync(Process mesh, string signal)
    {
        await SignalAsync(mesh.Id, signal);
        using var exited = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await mesh.WaitForExitAsync(exited.Token);
    }

    private static async Task SignalAsync(int pid, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }

    private static async Task AssertAllGoneAsync(List<int> processes)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (processes.Any(ProcFs.IsAlive) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.Empty(processes.Where(ProcFs.IsAlive).Select(pid => $"{pid}: {File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ')}"));
    }

    /// <summary>Kills any of <paramref name="processes"/> still running (the fleet's, which may have left the ./mesh process tree).</summary>
    private static void KillSurvivors(List<int> processes)
    {
        foreach (var pid in processes.Where(ProcFs.IsAlive))
        {
            try
            {
                using var survivor = Process.GetProcessById(pid);
                survivor.Kill();
            }
            catch (ArgumentException)
            {
                // Gone meanwhile.
            }
        }
    }

    private static async Task<string> RunToEndAsync(Process process)
    {
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return output;
    }

    private Task<(int ExitCode, string Output, string Errors)> RunAsync(params string[] args) => RunAsync(new Dictionary<string, string>(), args);

    private Task<(int ExitCode, string Output, string Errors)> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        RunAsync(TimeSpan.FromMinutes(1), environment, args);

    private Task<(int ExitCode, string Output, string Errors)> RestartAsync(params string[] args) =>
        RunAsync(RestartCommandWithin, new Dictionary<string, string>(), ["restart", .. args]);

    /// <summary>Runs a command that should end by itself: its exit code, output and errors (killed after <paramref name="within"/>).</summary>
    private async Task<(int ExitCode, string Output, string Errors)> RunAsync(TimeSpan within, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var process = StartMesh(environment, args);
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(within);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"./mesh {string.Join(' ', args)} did not end: {await errors}");
        }

        return (process.ExitCode, await output, await errors);
    }

    /// <summary>Every process below <paramref name="pid"/> (children, theirs, ...), from each process's parent in /proc.</summary>
    private static List<int> Descendants(int pid)
    {
        var parents = new Dictionary<int, int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                parents[int.Parse(Path.GetFileName(directory), System.Globalization.CultureInfo.InvariantCulture)] =
                    int.Parse(ProcFs.StatFields(File.ReadAllText(Path.Combine(directory, "stat")))[1], System.Globalization.CultureInfo.InvariantCulture);
            }
            catch (Exception ex) when (ex is IOException or FormatException or UnauthorizedAccessException)
            {
                // Not a process, or one that just ended.
            }
        }

        var found = new List<int>();
        var next = new Queue<int>([pid]);
        while (next.TryDequeue(out var parent))
        {
            foreach (var child in parents.Where(p => p.Value == parent).Select(p => p.Key))
            {
                found.Add(child);
                next.Enqueue(child);
            }
        }

        return found;
    }
}
