using System.Diagnostics;

namespace Mesh.Bench.Load;

/// <summary>
/// The audio of one response as it arrived: time to first audio, the gap before every later chunk, and underruns
/// against a <see cref="PlaybackClock"/>. Reads less than <see cref="CoalesceMs"/> apart count as one chunk, because
/// one server write larger than the client's buffer comes back as several reads in a row.
/// </summary>
public sealed class ChunkTimeline(long startTimestamp, bool simulatePlayback, bool paced = false)
{
    public const double CoalesceMs = 1.0;

    private readonly PlaybackClock _clock = new();
    private readonly List<double> _gapsMs = [];
    private double _lastArrivalMs = double.NaN;

    public double? FirstAudioMs { get; private set; }

    public double AudioSeconds { get; private set; }

    public int Chunks { get; private set; }

    public void OnAudio(long timestamp, double audioSeconds)
    {
        if (audioSeconds <= 0)
        {
            return;
        }

        var atMs = Stopwatch.GetElapsedTime(startTimestamp, timestamp).TotalMilliseconds;
        AddAt(atMs, audioSeconds);
    }

    /// <summary>Adds audio arriving <paramref name="atMs"/> after the request was sent.</summary>
    public void AddAt(double atMs, double audioSeconds)
    {
        if (audioSeconds <= 0)
        {
            return;
        }

        if (FirstAudioMs is null)
        {
            FirstAudioMs = atMs;
            Chunks = 1;
        }
        else if (atMs - _lastArrivalMs >= CoalesceMs)
        {
            _gapsMs.Add(atMs - _lastArrivalMs);
            Chunks++;
        }

        _lastArrivalMs = atMs;
        AudioSeconds += audioSeconds;
        _clock.Add(atMs / 1000.0, audioSeconds);
    }

    /// <summary>How long a player holding <paramref name="bufferSeconds"/> of audio ahead would wait before reading more.</summary>
    public TimeSpan ListenerWait(long timestamp, double bufferSeconds)
    {
        var atSeconds = Stopwatch.GetElapsedTime(startTimestamp, timestamp).TotalSeconds;
        return TimeSpan.FromSeconds(Math.Max(0, _clock.BufferedSeconds(atSeconds) - bufferSeconds));
    }

    /// <summary>The finished measurement; <paramref name="partial"/> when the client stopped reading on purpose.</summary>
    public Measurement Complete(long endTimestamp, bool partial = false) => new()
    {
        Status = 200,
        TtfaMs = FirstAudioMs,
        TotalMs = Stopwatch.GetElapsedTime(startTimestamp, endTimestamp).TotalMilliseconds,
        AudioSeconds = AudioSeconds,
        Chunks = Chunks,
        GapsMs = [.. _gapsMs],
        Underruns = simulatePlayback ? _clock.Underruns : null,
        StallMs = simulatePlayback ? _clock.StallSeconds * 1000 : 0,
        Partial = partial,
        Paced = paced,
        Error = FirstAudioMs is null ? "the response ended without audio" : null,
    };

    public Measurement Fail(long endTimestamp, int status, string error) => new()
    {
        Status = status,
        Error = error,
        TtfaMs = FirstAudioMs,
        TotalMs = Stopwatch.GetElapsedTime(startTimestamp, endTimestamp).TotalMilliseconds,
        AudioSeconds = AudioSeconds,
        Chunks = Chunks,
        GapsMs = [.. _gapsMs],
        Paced = paced,
    };
}

/// <summary>What one request measured. <see cref="Error"/> is null when it delivered its audio completely.</summary>
public sealed record Measurement
{
    /// <summary>HTTP status (200 for a completed WebSocket request), or 0 when no answer came.</summary>
    public int Status { get; init; }

    public string? Error { get; init; }

    public double? TtfaMs { get; init; }

    public double TotalMs { get; init; }

    public double AudioSeconds { get; init; }

    public int Chunks { get; init; }

    public double[] GapsMs { get; init; } = [];

    /// <summary>Null where the client does not play as it receives (whole-file requests).</summary>
    public int? Underruns { get; init; }

    public double StallMs { get; init; }

    /// <summary>The client stopped after the first audio (TTFA-only comparisons); not a complete stream.</summary>
    public bool Partial { get; init; }

    /// <summary>The client read at a listener's pace, so its gaps and total time are the listener's, not the server's.</summary>
    public bool Paced { get; init; }

    public bool Ok => Error is null;

    /// <summary>Whether its inter-chunk gaps and total time describe the server (it was read in full, as fast as possible).</summary>
    public bool ServerTimed => Ok && !Partial && !Paced;

    /// <summary>Real-time factor: time to deliver the whole audio over its duration (below 1 is faster than real time).</summary>
    public double? Rtf => ServerTimed && AudioSeconds > 0 ? TotalMs / 1000.0 / AudioSeconds : null;
}
