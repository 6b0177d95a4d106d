using System.Diagnostics;

namespace Mesh.Backend.Pipeline.Scheduling;

/// <summary>
/// The one bound on how long a stopping backend waits for work still on the engine: the scheduler's wait for the
/// sentences on its workers, and the model host's wait for the leases on the model, which those same sentences hold.
/// Both read this deadline, started by whichever asks first (disposal, once the drain has ended), so a stuck engine
/// call keeps the process <see cref="Wait"/> in all instead of once per wait.
/// </summary>
public sealed class EngineWorkDeadline
{
    // The Stopwatch timestamp of the first call to TimeLeft; 0 until then.
    private long _started;

    /// <summary>
    /// Gives work still on the engine 2 s in all. Its requests were cancelled as the drain ended, so a sentence ends at its
    /// engine's next await; one in a native call deaf to cancellation (a hung CUDA kernel) would hold the process until
    /// SIGKILL, so it is left behind, and the model it holds is left to the process exit, not freed under it.
    /// </summary>
    public EngineWorkDeadline()
        : this(TimeSpan.FromSeconds(2))
    {
    }

    /// <summary>Gives work still on the engine <paramref name="wait"/> in all (a test's, long enough to be waited on).</summary>
    public EngineWorkDeadline(TimeSpan wait)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(wait, TimeSpan.Zero);
        Wait = wait;
    }

    /// <summary>The time given, in all, to work still on the engine.</summary>
    public TimeSpan Wait { get; }

    /// <summary>What is left of <see cref="Wait"/>, which the first call starts.</summary>
    public TimeSpan TimeLeft()
    {
        var now = Stopwatch.GetTimestamp();
        var started = Interlocked.CompareExchange(ref _started, now, 0);
        var elapsed = started == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(started, now);
        return elapsed < Wait ? Wait - elapsed : TimeSpan.Zero;
    }
}
