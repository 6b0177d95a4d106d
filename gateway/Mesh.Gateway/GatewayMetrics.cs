using Prometheus;

namespace Mesh.Gateway;

/// <summary>The gateway's Prometheus series (names per the design's metric catalogue).</summary>
public static class GatewayMetrics
{
    public static readonly Counter Requests = Metrics.CreateCounter(
        "mesh_gateway_requests_total", "Proxied requests answered by the gateway, by HTTP status code.", "code");
}
