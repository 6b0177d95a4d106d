using System.Globalization;
using Mesh.Gateway.Admission;
using Mesh.Gateway.Routing;
using Prometheus;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.Gateway;

/// <summary>The gateway's Prometheus series (names per the design's metric catalogue); every request series carries variant and pool.</summary>
public static class GatewayMetrics
{
    /// <summary>The route labels of an answer given before a route was decided.</summary>
    private const string Unrouted = "none";

    private static readonly string[] RouteLabels = ["variant", "pool", "priority"];

    // Every reason the admission and failover middlewares count under, so a route's rare-outcome counters start at 0.
    private static readonly string[] ShedReasons =
        [AdmissionController.QueueFull, AdmissionController.QueueTimeout, AdmissionController.RealtimePressure, "client_gone"];

    private static readonly string[] RetryReasons = [nameof(ForwarderError.Request), "503", "429"];

    private static readonly string[] StreamSurfaces = ["audio", "sse", "websocket"];

    public static readonly Counter Requests = Metrics.CreateCounter(
        "mesh_requests_total", "Requests answered by the gateway, by HTTP status code (499: the client left first; 502: the backend broke a started response; an SSE stream the backend ended with an error event: its status).", [.. RouteLabels, "code"]);

    public static readonly Histogram RequestDuration = Metrics.CreateHistogram(
        "mesh_request_duration_seconds", "Time from arrival at the gateway to the end of the response.",
        new HistogramConfiguration { LabelNames = RouteLabels, Buckets = Histogram.ExponentialBuckets(0.01, 2, 14) });

    public static readonly Histogram TimeToFirstAudio = Metrics.CreateHistogram(
        "mesh_tts_time_to_first_audio_seconds", "Time from arrival at the gateway to the backend's first audio (an HTTP response's start, a WebSocket request's first PCM frame), admission queue included.",
        new HistogramConfiguration { LabelNames = RouteLabels, Buckets = Histogram.ExponentialBuckets(0.01, 2, 11) });

    public static readonly Histogram QueueWait = Metrics.CreateHistogram(
        "mesh_queue_wait_seconds", "Time a request waited for an admission slot at the gateway.",
        new HistogramConfiguration { LabelNames = ["priority", "variant"], Buckets = Histogram.ExponentialBuckets(0.001, 2, 16) });

    public static readonly Gauge QueueDepth = Metrics.CreateGauge(
        "mesh_queue_depth", "Requests waiting for an admission slot at the gateway.", "priority");

    public static readonly Counter Shed = Metrics.CreateCounter(
        "mesh_shed_total", "Requests the gateway turned away with 429 instead of forwarding, by reason.", "reason", "priority", "variant");

    public static readonly Counter Retries = Metrics.CreateCounter(
        "mesh_retries_total", "Requests sent to a second backend after the first failed before answering.", "variant", "pool", "reason");

    public static readonly Counter StreamFailures = Metrics.CreateCounter(
        "mesh_stream_failures_total", "Streams whose backend failed them after their start, broke them or ended them with an error event; the client saw a marked end.", "variant", "pool", "surface");

    public static readonly Counter StalledStreams = Metrics.CreateCounter(
        "mesh_stalled_streams_total", "Proxied responses and WebSocket connections whose client took none of a write for the stall timeout; the connection was aborted.", "variant", "pool");

    public static readonly Counter Ejections = Metrics.CreateCounter(
        "mesh_backend_ejections_total", "Times a backend was taken out of rotation for consecutive 5xx answers or failures.", "backend", "cluster");

    public static readonly Gauge BackendHealthy = Metrics.CreateGauge(
        "mesh_backend_healthy", "1 while the backend's /readyz probe passes, else 0.", "backend", "cluster");

    public static readonly Gauge PoolReadyBackends = Metrics.CreateGauge(
        "mesh_pool_ready_backends", "Backends of the pool whose /readyz probe passes; 0 also for a pool with no backend at all.", "cluster");

    public static readonly Gauge BackendLoad = Metrics.CreateGauge(
        "mesh_backend_load", "Requests in flight plus sentences queued, as the backend last reported.", "backend");

    public static readonly Gauge DiscoveredAddresses = Metrics.CreateGauge(
        "mesh_backend_discovered_addresses", "Addresses a discovered backend host resolves to, each a backend of its pool (the last known ones while lookups fail).", "host");

    public static readonly Counter DiscoveryFailures = Metrics.CreateCounter(
        "mesh_backend_discovery_failures_total", "Lookups of a discovered backend host that failed, timed out or came back empty; its last known addresses were kept.", "host");

    public static readonly Gauge LastReloadSuccessful = Metrics.CreateGauge(
        "mesh_config_last_reload_successful",
        "1 when the latest save of these settings applied (or none came since the start), 0 while it is refused and the settings read before it serve on.",
        "settings");

    public static readonly Counter AuthFailures = Metrics.CreateCounter(
        "mesh_auth_failures_total", "Requests refused for their API key (401) or its rate (429), by code.", "code");

    public static void CountRequest(RouteDecision? decision, int status)
    {
        Requests.WithLabels(
            decision?.Variant ?? Unrouted, decision?.Pool ?? Unrouted, decision?.Priority ?? Unrouted, status.ToString(CultureInfo.InvariantCulture)).Inc();
        if (decision is null)
        {
            return;
        }

        // Shed and retry rates then read 0 rather than no data until the first one happens.
        foreach (var reason in ShedReasons)
        {
            Shed.WithLabels(reason, decision.Priority, decision.Variant).Publish();
        }

        foreach (var reason in RetryReasons)
        {
            Retries.WithLabels(decision.Variant, decision.Pool, reason).Publish();
        }

        foreach (var surface in StreamSurfaces)
        {
            StreamFailures.WithLabels(decision.Variant, decision.Pool, surface).Publish();
        }

        StalledStreams.WithLabels(decision.Variant, decision.Pool).Publish();
    }
}
