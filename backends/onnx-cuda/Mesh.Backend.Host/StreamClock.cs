using System.Diagnostics;

namespace Mesh.Backend.Host;

/// <summary>
/// Times one stream as a real-time player would experience it: time to first audio, the gap before each later
/// write, and underruns — a write that arrives after the audio already sent has finished playing.
/// </summary>
public sealed class StreamClock(long startTimestamp, int sampleRate, string[] labels)
{
    private long _firstAudio;
    private long _lastWrite;
    private long _samplesSent;

    public bool HasAudio => _firstAudio != 0;

    public double AudioSeconds => (double)_samplesSent / sampleRate;

    /// <summary>Records <paramref name="samples"/> samples of audio about to be written.</summary>
    public void OnAudio(int samples)
    {
        if (samples <= 0)
        {
            return;
        }

        var now = Stopwatch.GetTimestamp();
        if (_firstAudio == 0)
        {
            _firstAudio = now;
            // Rare-event counters start at 0 once a stream's labels are known, so their rates read 0 rather than no data.
            BackendMetrics.Underruns.WithLabels(labels).Publish();
            BackendMetrics.Cancellations.WithLabels(labels).Publish();
            BackendMetrics.TimeToFirstAudio.WithLabels(labels).Observe(Stopwatch.GetElapsedTime(startTimestamp, now).TotalSeconds);
        }
        else
        {
            BackendMetrics.InterChunkGap.WithLabels(labels).Observe(Stopwatch.GetElapsedTime(_lastWrite, now).TotalSeconds);
            if (Stopwatch.GetElapsedTime(_firstAudio, now).TotalSeconds > AudioSeconds)
            {
                BackendMetrics.Underruns.WithLabels(labels).Inc();
            }
        }

        _lastWrite = now;
        _samplesSent += samples;
    }

    /// <summary>Records the end of a complete stream: audio seconds and real-time factor.</summary>
    public void OnComplete()
    {
        BackendMetrics.AudioSeconds.WithLabels(labels).Inc(AudioSeconds);
        if (_samplesSent > 0)
        {
            BackendMetrics.RealTimeFactor.WithLabels(labels).Observe(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds / AudioSeconds);
        }
    }
}
