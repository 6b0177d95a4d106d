namespace Mesh.Bench.Load;

/// <summary>
/// A listener's player: playback starts with the first audio and consumes it in real time. A chunk that arrives after
/// the audio received so far has finished playing is an underrun; the player stalls until then and resumes. No
/// jitter buffer is assumed, which is the strictest reading.
/// </summary>
public sealed class PlaybackClock
{
    private double _playedUntil = double.NaN;

    public int Underruns { get; private set; }

    /// <summary>Total time the player sat silent waiting for audio, after it had started.</summary>
    public double StallSeconds { get; private set; }

    /// <summary>Adds a chunk of <paramref name="audioSeconds"/> arriving at <paramref name="arrivalSeconds"/>; true when it came too late.</summary>
    public bool Add(double arrivalSeconds, double audioSeconds)
    {
        if (audioSeconds <= 0)
        {
            return false;
        }

        if (double.IsNaN(_playedUntil))
        {
            _playedUntil = arrivalSeconds + audioSeconds;
            return false;
        }

        if (arrivalSeconds > _playedUntil)
        {
            Underruns++;
            StallSeconds += arrivalSeconds - _playedUntil;
            _playedUntil = arrivalSeconds + audioSeconds;
            return true;
        }

        _playedUntil += audioSeconds;
        return false;
    }

    /// <summary>Audio received but not yet played at <paramref name="atSeconds"/>.</summary>
    public double BufferedSeconds(double atSeconds) => double.IsNaN(_playedUntil) ? 0 : Math.Max(0, _playedUntil - atSeconds);
}
