using Mesh.Backend.Pipeline.Scheduling;
using Prometheus;

namespace Mesh.Backend.Host;

/// <summary>The backend's Prometheus series (names per the design's metric catalogue).</summary>
public static class BackendMetrics
{
    /// <summary>The label value of a model or priority that is not known: no model loaded, a head refused before it was read.</summary>
    public const string Unknown = "none";

    private static readonly string[] RequestLabels = ["backend", "variant", "model", "priority"];

    public static readonly Counter Requests = Metrics.CreateCounter(
        "mesh_requests_total", "Speech requests answered, by HTTP status code, as they end: 200 complete, the status of the error that ended a stream (502 for raw audio cut), 499 for a client gone before a status went out.",
        [.. RequestLabels, "code"]);

    /// <summary>Counts one request in <see cref="Requests"/>: <paramref name="labels"/> are <see cref="RequestLabels"/>' values.</summary>
    public static void CountRequest(string[] labels, int status) =>
        Requests.WithLabels([.. labels, status.ToString(System.Globalization.CultureInfo.InvariantCulture)]).Inc();

    public static readonly Histogram TimeToFirstAudio = Metrics.CreateHistogram(
        "mesh_tts_time_to_first_audio_seconds",
        "Time from request arrival to the first audio written to the client.",
        new HistogramConfiguration { LabelNames = RequestLabels, Buckets = Histogram.ExponentialBuckets(0.01, 2, 11) });

    public static readonly Histogram InterChunkGap = Metrics.CreateHistogram(
        "mesh_tts_inter_chunk_gap_seconds",
        "Time between consecutive audio writes of one stream.",
        new HistogramConfiguration { LabelNames = RequestLabels, Buckets = Histogram.ExponentialBuckets(0.001, 2, 14) });

    public static readonly Counter Underruns = Metrics.CreateCounter(
        "mesh_tts_underruns_total",
        "Audio writes that came later than the audio already sent lasts (a client playing in real time would have starved).",
        RequestLabels);

    public static readonly Histogram RealTimeFactor = Metrics.CreateHistogram(
        "mesh_tts_real_time_factor",
        "Wall time of a request divided by the duration of the audio it produced (below 1 is faster than real time).",
        // Real time (1) is a bound, so the share of requests slower than real time is counted, not interpolated.
        new HistogramConfiguration { LabelNames = RequestLabels, Buckets = [0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2, 3, 5] });

    public static readonly Counter AudioSeconds = Metrics.CreateCounter(
        "mesh_tts_audio_seconds_total", "Seconds of audio synthesized and sent.", RequestLabels);

    public static readonly Counter Cancellations = Metrics.CreateCounter(
        "mesh_tts_cancellations_total", "Requests whose client went away before the audio was complete; their queued and running work was stopped.",
        RequestLabels);

    public static readonly Counter StalledStreams = Metrics.CreateCounter(
        "mesh_tts_stalled_streams_total", "Streams ended because their client took none of the response for the stall timeout; their work was stopped.",
        RequestLabels);

    public static readonly Histogram QueueWait = Metrics.CreateHistogram(
        "mesh_queue_wait_seconds",
        "Time a sentence waited in the backend's priority queue before a worker took it.",
        new HistogramConfiguration { LabelNames = ["backend", "variant", "priority"], Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16) });

    public static readonly Gauge QueueDepth = Metrics.CreateGauge(
        "mesh_queue_depth", "Sentences waiting in the backend's priority queue.", "backend", "variant", "priority");

    public static readonly Histogram SentenceSynthesis = Metrics.CreateHistogram(
        "mesh_tts_sentence_synthesis_seconds",
        "Time a worker spent synthesizing one sentence, from taking it off the queue to its last audio chunk.",
        new HistogramConfiguration { LabelNames = RequestLabels, Buckets = Histogram.ExponentialBuckets(0.001, 2, 15) });

    public static readonly Counter WebSocketIdleCloses = Metrics.CreateCounter(
        "mesh_websocket_idle_closes_total", "WebSocket connections closed (1001) because no request ran or waited on them for the idle timeout.",
        "backend", "variant");

    /// <summary>Exports the scheduler's queue events for one backend.</summary>
    public sealed class SchedulerObserver(string backend, string variant) : ISchedulerObserver
    {
        public void Queued(string priority, int depth) => QueueDepth.WithLabels(backend, variant, priority).Set(depth);

        public void Dequeued(string priority, int depth, TimeSpan wait)
        {
            QueueDepth.WithLabels(backend, variant, priority).Set(depth);
            QueueWait.WithLabels(backend, variant, priority).Observe(wait.TotalSeconds);
        }

        public void Withdrawn(string priority, int depth) => QueueDepth.WithLabels(backend, variant, priority).Set(depth);

        public void Synthesized(string priority, string model, TimeSpan elapsed) =>
            SentenceSynthesis.WithLabels(backend, variant, model, priority).Observe(elapsed.TotalSeconds);
    }
}
