using System.Diagnostics;

namespace Mesh.Tests.Integration;

/// <summary>Runs <c>dotnet ARGS</c> to its exit, for tests of how a program ends; killed (and the test failed) past the timeout.</summary>
internal static class DotnetProcess
{
    public static async Task<(int ExitCode, string Output)> RunToExitAsync(
        IEnumerable<string> args, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null)
    {
        var (exitCode, stdout, stderr) = await RunToExitApartAsync(args, timeout, environment);
        return (exitCode, stdout + stderr);
    }

    /// <summary>
    /// As <see cref="RunToExitAsync"/>, with what the program wrote to standard output and to standard error apart;
    /// under <paramref name="fileSizeLimitKib"/> a write that passes it fails as on a full disk.
    /// </summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunToExitApartAsync(
        IEnumerable<string> args, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null, int? fileSizeLimitKib = null)
    {
        // With SIGXFSZ ignored, a write past the limit fails with EFBIG instead of killing the process.
        var info = fileSizeLimitKib is { } limit
            ? new ProcessStartInfo("bash") { ArgumentList = { "-c", $"trap '' XFSZ; ulimit -f {limit}; exec dotnet \"$@\"", "bash" } }
            : new ProcessStartInfo("dotnet");
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
