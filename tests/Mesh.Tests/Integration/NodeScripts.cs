using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Mesh.Tests.Integration;

/// <summary>
/// Runs the Node drivers in <c>tests/node/</c> (headless Chromium through playwright-core, the official OpenAI SDK)
/// and returns the one JSON object each prints. Their packages come from the committed lock file with <c>npm ci</c>.
/// </summary>
public static class NodeScripts
{
    public static string Folder { get; } = Path.Combine(RepoPaths.Root, "tests", "node");

    /// <summary>Debian's build; browsers cannot be downloaded here, so playwright-core drives this one.</summary>
    public static string Chromium { get; } = Environment.GetEnvironmentVariable("CHROMIUM") ?? "/usr/bin/chromium";

    // Installed once per test run, whichever test needs it first.
    private static readonly Lazy<Task> Installed = new(InstallAsync);

    /// <summary>Where tests leave files worth looking at (screenshots, downloads), next to the test assembly.</summary>
    public static string ArtifactsFolder(string name)
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "artifacts", name);
        Directory.CreateDirectory(folder);
        return folder;
    }

    /// <summary>Runs <c>node SCRIPT ARGS</c>; fails the test unless it exits 0 and reports <c>"ok": true</c>.</summary>
    public static async Task<JsonElement> RunAsync(string script, IEnumerable<string> args, TimeSpan timeout)
    {
        await Installed.Value;
        var (exitCode, stdout, stderr) = await RunProcessAsync("node", [script, .. args], timeout);
        var lastLine = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        Assert.True(exitCode == 0 && lastLine is not null, $"node {script} exited {exitCode}:\n{stdout}\n{stderr}");
        var report = JsonDocument.Parse(lastLine).RootElement.Clone();
        Assert.True(
            report.GetProperty("ok").GetBoolean(),
            $"node {script} failed: {(report.TryGetProperty("failure", out var failure) ? failure.GetString() : "?")}\n{stderr}");
        return report;
    }

    private static async Task InstallAsync()
    {
        // npm ci writes node_modules/.package-lock.json; a lock file newer than it means the packages changed.
        var installed = Path.Combine(Folder, "node_modules", ".package-lock.json");
        if (File.Exists(installed) && File.GetLastWriteTimeUtc(installed) >= File.GetLastWriteTimeUtc(Path.Combine(Folder, "package-lock.json")))
        {
            return;
        }

        var (exitCode, stdout, stderr) = await RunProcessAsync("npm", ["ci", "--no-audit", "--no-fund"], TimeSpan.FromMinutes(3));
        Assert.True(exitCode == 0, $"npm ci in {Folder} failed:\n{stdout}\n{stderr}");
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunProcessAsync(string file, IEnumerable<string> args, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = Folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["CHROMIUM"] = Chromium;
        using var process = new Process { StartInfo = info };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => Append(stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Append(stderr, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            // The browser is a child of node: take the whole tree down so nothing outlives the test.
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Assert.Fail($"{file} {string.Join(' ', info.ArgumentList)} ran past {timeout}:\n{Read(stdout)}\n{Read(stderr)}");
        }

        // The parameterless wait also drains the redirected output.
        await process.WaitForExitAsync();
        return (process.ExitCode, Read(stdout), Read(stderr));
    }

    private static void Append(StringBuilder builder, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (builder)
        {
            builder.AppendLine(line);
        }
    }

    private static string Read(StringBuilder builder)
    {
        lock (builder)
        {
            return builder.ToString();
        }
    }
}
