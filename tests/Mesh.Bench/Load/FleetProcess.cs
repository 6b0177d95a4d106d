using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Mesh.Bench.Load;

/// <summary>A gateway or backend the bench started on a loopback port the OS picked, logging to a file; killed on dispose.</summary>
public sealed partial class FleetProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _closed;

    private FleetProcess(string name, Process process, StreamWriter log)
    {
        Name = name;
        _process = process;
        _log = log;
    }

    public string Name { get; }

    public Uri Url { get; private set; } = null!;

    public int Pid => _process.Id;

    public string LogPath { get; private init; } = "";

    public static async Task<FleetProcess> StartAsync(
        string name, string dll, IEnumerable<string> args, IReadOnlyDictionary<string, string> environment, string logDirectory, CancellationToken cancellationToken)
    {
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"{dll} is missing; build the solution (./mesh bench builds it).", dll);
        }

        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in (string[])[dll, "--contentRoot", Path.GetDirectoryName(dll)!, "--urls", "http://127.0.0.1:0", .. args])
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        var logPath = Path.Combine(logDirectory, name + ".log");
        var host = new FleetProcess(name, new Process { StartInfo = info, EnableRaisingEvents = true }, new StreamWriter(logPath) { AutoFlush = true })
        {
            LogPath = logPath,
        };
        host._process.OutputDataReceived += (_, e) => host.OnLine(e.Data);
        host._process.ErrorDataReceived += (_, e) => host.OnLine(e.Data);
        host._process.Exited += (_, _) => host._listening.TrySetException(
            new InvalidOperationException($"{name} exited before it listened; see {logPath}"));
        try
        {
            host._process.Start();
            host._process.BeginOutputReadLine();
            host._process.BeginErrorReadLine();
            host.Url = await host._listening.Task.WaitAsync(TimeSpan.FromSeconds(120), cancellationToken);
            return host;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    /// <summary>Polls <c>/readyz</c> until it answers 200.</summary>
    public async Task WaitReadyAsync(HttpClient http, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited before it was ready; see {LogPath}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri(Url, "/readyz"), cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // A probe that timed out while the machine is busy starting the others; the next one may answer.
            }

            await Task.Delay(200, cancellationToken);
        }

        throw new TimeoutException($"{Name} at {Url} was not ready within {timeout.TotalSeconds:0} s; see {LogPath}");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
            // It was never started or is already gone.
        }

        _process.Dispose();
        lock (_log)
        {
            _closed = true;
            _log.Dispose();
        }
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            if (!_closed)
            {
                _log.WriteLine(line);
            }
        }

        var match = ListeningPattern().Match(line);
        if (match.Success)
        {
            _listening.TrySetResult(new Uri(match.Groups[1].Value));
        }
    }

    [GeneratedRegex(@"Now listening on: (http://[0-9.]+:\d+)")]
    private static partial Regex ListeningPattern();
}
