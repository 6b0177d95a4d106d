using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace Mesh.Gateway.Balancing;

/// <summary>
/// Power of two choices on live load: of two random healthy backends, the one with less work. Work is the larger of
/// what the backend reported (all its clients) and what this gateway has in flight to it (fresher between reports).
/// </summary>
public sealed class LeastLoadedPolicy(BackendLoad load) : ILoadBalancingPolicy
{
    public string Name => BalancingOptions.LeastLoaded;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        switch (availableDestinations.Count)
        {
            case 0:
                return null;
            case 1:
                return availableDestinations[0];
        }

        var first = Random.Shared.Next(availableDestinations.Count);
        var second = Random.Shared.Next(availableDestinations.Count - 1);
        if (second >= first)
        {
            second++;
        }

        var a = availableDestinations[first];
        var b = availableDestinations[second];
        return Work(a) <= Work(b) ? a : b;
    }

    private int Work(DestinationState destination) => Math.Max(load.Reported(destination.DestinationId), destination.ConcurrentRequestCount);
}
