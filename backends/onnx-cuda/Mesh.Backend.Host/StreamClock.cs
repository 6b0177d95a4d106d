using System.Diagnostics;

namespace Mesh.Backend.Host;

/// <summary>
/// Times one stream as a real-time player would experience it: time to first audio, the gap before each later
/// write, and underruns — a write that arrives after the audio already sent has finished playing. An encoder may
/// hold samples back (whole FLAC until the end, AAC, MP3, Opus and streamed FLAC a frame or so): they count as
/// produced at once and as sent with the next write that carries bytes.
/// </summary>
public sealed class StreamClock(long startTimestamp, int sampleRate, string[] labels)
{
    private long _firstAudio;
    private long _lastWrite;
    private long _samplesProduced;
    private long _samplesSent;

    /// <summary>Seconds of audio produced so far, whether or not an encoder still holds some of it.</summary>
    public double AudioSeconds => (double)_samplesProduced / sampleRate;

    /// <summary>Records <paramref name="samples"/> samples of audio handed to the client's encoder.</summary>
    public void OnProduced(int samples) => _samplesProduced += Math.Max(samples, 0);

    /// <summary>Records bytes about to be written: they deliver every produced sample not sent yet.</summary>
    public void OnWrite()
    {
        if (_samplesProduced == _samplesSent)
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
            BackendMetrics.StalledStreams.WithLabels(labels).Publish();
            BackendMetrics.TimeToFirstAudio.WithLabels(labels).Observe(Stopwatch.GetElapsedTime(startTimestamp, now).TotalSeconds);
        }
        else
        {
            BackendMetrics.InterChunkGap.WithLabels(labels).Observe(Stopwatch.GetElapsedTime(_lastWrite, now).TotalSeconds);
            if (Stopwatch.GetElapsedTime(_firstAudio, now).TotalSeconds > (double)_samplesSent / sampleRate)
            {
                BackendMetrics.Underruns.WithLabels(labels).Inc();
            }
        }

        _lastWrite = now;
        _samplesSent = _samplesProduced;
    }

    /// <summary>Records the end of a complete stream: audio seconds and real-time factor.</summary>
    public void OnComplete()
    {
        BackendMetrics.AudioSeconds.WithLabels(labels).Inc(AudioSeconds);
        if (_samplesProduced > 0)
        {
            BackendMetrics.RealTimeFactor.WithLabels(labels).Observe(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds / AudioSeconds);
        }
    }
}
