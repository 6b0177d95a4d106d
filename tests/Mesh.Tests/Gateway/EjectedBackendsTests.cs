using Mesh.Gateway.Health;
using Yarp.ReverseProxy.Model;

namespace Mesh.Tests.Gateway;

/// <summary>
/// The wait a 503 <c>no_healthy_backend</c> advises for backends passive health ejected: past the end of the ejection,
/// as YARP's reactivation timer may fire late and a client back exactly then would get another 503.
/// </summary>
public sealed class EjectedBackendsTests
{
    [Fact]
    public void An_ejected_backend_is_expected_back_a_quarter_second_after_its_ejection_ends()
    {
        var (ejected, destination) = Ejected(TimeSpan.FromSeconds(8));

        var wait = ejected.ExpectedBackIn([destination]);

        // Only the time this test takes between the ejection and the question comes off the 8.25 s.
        Assert.InRange(wait, TimeSpan.FromMilliseconds(8001), TimeSpan.FromMilliseconds(8250));
    }

    [Fact]
    public void A_backend_whose_ejection_ended_but_is_not_yet_reactivated_is_expected_back_in_a_quarter_second()
    {
        var (ejected, destination) = Ejected(TimeSpan.Zero);

        Assert.Equal(TimeSpan.FromMilliseconds(250), ejected.ExpectedBackIn([destination]));
    }

    /// <summary>A backend ejected as <c>ServerErrorsPolicy</c> does: YARP marks it, then the policy notes the period.</summary>
    private static (EjectedBackends Ejected, DestinationState Destination) Ejected(TimeSpan period)
    {
        var ejected = new EjectedBackends();
        var destination = new DestinationState("pool/b0");
        destination.Health.Passive = DestinationHealth.Unhealthy;
        ejected.Ejected(destination, period);
        return (ejected, destination);
    }
}
