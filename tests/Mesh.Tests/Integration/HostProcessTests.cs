namespace Mesh.Tests.Integration;

/// <summary>The harness's promise that every host a test starts is stopped, also one whose start fails.</summary>
public sealed class HostProcessTests
{
    [Fact]
    public async Task A_host_that_does_not_get_ready_is_killed_before_the_failure_is_thrown()
    {
        var name = $"never-ready-{Guid.NewGuid():N}";

        // Its model load waits ten minutes, so its /readyz does not answer 200 within the two seconds given.
        await Assert.ThrowsAsync<TimeoutException>(() => HostProcess.StartAsync(
            RepoPaths.BackendDll, [$"--Backend:Name={name}", "--Faults:StartupDelayMs=600000"], readyTimeout: TimeSpan.FromSeconds(2)));

        // Before, it ran on with nobody holding it until the test run ended.
        Assert.DoesNotContain(
            ProcFs.Children(Environment.ProcessId),
            pid => ProcFs.IsAlive(pid) && ProcFs.CommandLine(pid).Contains(name, StringComparison.Ordinal));
    }
}
