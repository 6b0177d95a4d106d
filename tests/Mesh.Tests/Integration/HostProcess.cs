using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Mesh.Tests.Integration;

/// <summary>A real gateway or backend process on a loopback port the OS picked; killed on dispose.</summary>
public sealed partial class HostProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _wroteLine = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private HostProcess(Process process)
    {
        _process = process;
    }

    public Uri Url { get; private set; } = null!;

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Completes once the host has written its first line: a host logs once it is built.</summary>
    public Task FirstLine => _wroteLine.Task;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>
    /// Starts <paramref name="dll"/> with <c>--urls http://127.0.0.1:0</c> and waits for the port it bound, then, given
    /// <paramref name="readyTimeout"/>, for its <c>/readyz</c>. A host that does not get that far is killed before the
    /// failure is thrown: nobody else holds it to stop it.
    /// </summary>
    public static async Task<HostProcess> StartAsync(
        string dll, IEnumerable<string> args, IDictionary<string, string>? environment = null, TimeSpan? readyTimeout = null)
    {
        var host = Launch(dll, args, environment);
        try
        {
            host.Url = await host._listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
            if (readyTimeout is { } timeout)
            {
                await host.WaitReadyAsync(timeout);
            }

            return host;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Starts <paramref name="dll"/> as <see cref="StartAsync"/> does and returns at once, for tests of a host that is
    /// still starting; <see cref="Url"/> is not known then.
    /// </summary>
    public static HostProcess Launch(string dll, IEnumerable<string> args, IDictionary<string, string>? environment = null)
    {
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException("Build the solution first; host not found.", dll);
        }

        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(dll);
        info.ArgumentList.Add("--contentRoot");
        info.ArgumentList.Add(Path.GetDirectoryName(dll)!);
        info.ArgumentList.Add("--urls");
        info.ArgumentList.Add("http://127.0.0.1:0");
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var host = new HostProcess(new Process { StartInfo = info, EnableRaisingEvents = true });
        host._process.OutputDataReceived += (_, e) => host.OnLine(e.Data);
        host._process.ErrorDataReceived += (_, e) => host.OnLine(e.Data);
        host._process.Exited += (_, _) =>
        {
            // Once exited, this waits only for the redirected output to be read to its end, so the message is whole.
            host._process.WaitForExit();
            host._listening.TrySetException(new InvalidOperationException($"host exited with code {host._process.ExitCode}:\n" + host.Output));
        };
        host._process.Start();
        host._process.BeginOutputReadLine();
        host._process.BeginErrorReadLine();
        return host;
    }

    /// <summary>Polls <c>/readyz</c> until it answers 200.</summary>
    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        using var client = new HttpClient { BaseAddress = Url, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException("host exited before ready:\n" + Output);
            }

            if (await HttpProbe.AnswersAsync(client, "/readyz"))
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"{Url} not ready within {timeout}:\n{Output}");
    }

    /// <summary>Kills the process without warning (SIGKILL), as a crash or an OOM kill would.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
    }

    /// <summary>Freezes the process (SIGSTOP): its sockets stay open and nothing answers, as a hung host's would.</summary>
    public Task FreezeAsync() => StopProcessAsync(Pid);

    /// <summary>Stops a process (SIGSTOP) so that it neither reads, answers nor exits.</summary>
    public static Task StopProcessAsync(int pid) => SignalAsync(pid, "STOP");

    /// <summary>Asks the process to stop (SIGTERM), as an orchestrator would, and returns its exit code once it has exited.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        await SignalAsync(Pid, "TERM");
        // With its output redirected, this also waits for the output to be read to its end.
        await _process.WaitForExitAsync().WaitAsync(timeout);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static async Task SignalAsync(int pid, string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", pid.ToString(CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        _wroteLine.TrySetResult();

        var match = ListeningPattern().Match(line);
        if (match.Success)
        {
            _listening.TrySetResult(new Uri(match.Groups[1].Value));
        }
    }

    [GeneratedRegex(@"Now listening on: (http://[0-9.]+:\d+)")]
    private static partial Regex ListeningPattern();
}
