using Prometheus;

namespace Mesh.Backend.Host;

/// <summary>The backend's Prometheus series (names per the design's metric catalogue).</summary>
public static class BackendMetrics
{
    public static readonly Counter Requests = Metrics.CreateCounter(
        "mesh_requests_total", "Speech requests answered, by HTTP status code.", "backend", "variant", "model", "code");

    public static readonly Histogram TimeToFirstAudio = Metrics.CreateHistogram(
        "mesh_tts_time_to_first_audio_seconds",
        "Time from request arrival to the first audio byte written.",
        new HistogramConfiguration
        {
            LabelNames = ["backend", "variant", "model"],
            Buckets = Histogram.ExponentialBuckets(0.01, 2, 11), // 10 ms .. ~10 s
        });

    public static readonly Counter AudioSeconds = Metrics.CreateCounter(
        "mesh_tts_audio_seconds_total", "Seconds of audio synthesized and sent.", "backend", "variant", "model");
}
