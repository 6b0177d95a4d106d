using System.Globalization;
using System.Runtime.CompilerServices;
using Mesh.Contracts;
using Mesh.Gateway.Routing;
using Yarp.ReverseProxy.Model;

namespace Mesh.Gateway.Health;

/// <summary>
/// When an unhealthy backend is expected back, for the wait a 503 <c>no_healthy_backend</c> advises. A fixed 1 s sent
/// the OpenAI SDKs' two retries into the same 10 s ejection. A backend passive health ejected is back at the end of its
/// reactivation period, which YARP keeps to itself, so the policy notes it here; one its probe found unready is back
/// at the next good probe, one probe interval away at the soonest.
/// </summary>
public sealed class EjectedBackends
{
    /// <summary>The answer when no backend of the request's pool (or, for the catalogue, of any pool) can take it.</summary>
    public static readonly ApiError NoHealthyBackend = ApiError.Unavailable("No healthy backend is available; retry shortly.", "no_healthy_backend");

    // openai-python ignores a Retry-After over 60 s and falls back to its own back-off of about a second (openai-node
    // honours any wait); a client should look again well before a long reactivation period ends anyway, as a fleet file
    // may add a backend.
    private static readonly TimeSpan LongestWait = TimeSpan.FromSeconds(30);

    // A backend that looks healthy yet took no request is one whose health changed a moment ago; a retry at once would race it.
    private static readonly TimeSpan ShortestWait = TimeSpan.FromMilliseconds(100);

    // YARP reactivates an ejected backend from a thread-pool timer, which can fire late on a busy machine: a client back
    // exactly at the end of the ejection could find the backend still out and spend one of its retries on another 503.
    private static readonly TimeSpan ReactivationMargin = TimeSpan.FromMilliseconds(250);

    // Weak keys, as in ServerErrorsPolicy: a removed backend's entry goes with YARP's state of it.
    private readonly ConditionalWeakTable<DestinationState, StrongBox<long>> _reactivatedAtMs = new();

    /// <summary>Notes that passive health ejected <paramref name="destination"/> for <paramref name="period"/>, from now.</summary>
    public void Ejected(DestinationState destination, TimeSpan period) =>
        _reactivatedAtMs.AddOrUpdate(destination, new StrongBox<long>(Environment.TickCount64 + (long)period.TotalMilliseconds));

    /// <summary>Whether active or passive health holds <paramref name="destination"/> out, so that YARP routes nothing to it.</summary>
    public static bool IsHeldOut(DestinationState destination) =>
        destination.Health.Active == DestinationHealth.Unhealthy || destination.Health.Passive == DestinationHealth.Unhealthy;

    /// <summary>
    /// How long until the first of <paramref name="destinations"/> is expected back (an ejected one 250 ms after its
    /// ejection ends), between 100 ms and 30 s; with none
    /// (an empty pool, or none held out), one probe interval, the soonest a probe can find a backend ready.
    /// </summary>
    public TimeSpan ExpectedBackIn(IEnumerable<DestinationState> destinations)
    {
        var now = Environment.TickCount64;
        var soonest = destinations.Select(destination => BackIn(destination, now)).DefaultIfEmpty(FleetProxyConfigProvider.ProbeInterval).Min();
        return soonest < ShortestWait ? ShortestWait : soonest > LongestWait ? LongestWait : soonest;
    }

    /// <summary>
    /// Says when to retry: <c>Retry-After</c> in whole seconds, rounded up, and <c>retry-after-ms</c>, which the OpenAI
    /// SDKs read first, for a backend due back within the second.
    /// </summary>
    public void AdviseRetry(HttpResponse response, IEnumerable<DestinationState> destinations)
    {
        var wait = ExpectedBackIn(destinations);
        response.Headers.RetryAfter = ((int)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        response.Headers[MeshHeaders.RetryAfterMs] = ((long)Math.Ceiling(wait.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture);
    }

    private TimeSpan BackIn(DestinationState destination, long now)
    {
        // YARP routes to a backend only when neither its probes nor passive health hold it out, so it is back when both let it.
        var ejectedFor = destination.Health.Passive == DestinationHealth.Unhealthy && _reactivatedAtMs.TryGetValue(destination, out var reactivatedAt)
            ? TimeSpan.FromMilliseconds(Math.Max(0, reactivatedAt.Value - now)) + ReactivationMargin
            : TimeSpan.Zero;
        var unreadyFor = destination.Health.Active == DestinationHealth.Unhealthy ? FleetProxyConfigProvider.ProbeInterval : TimeSpan.Zero;
        return ejectedFor > unreadyFor ? ejectedFor : unreadyFor;
    }
}
