using System.Net.Http.Json;
using Mesh.Contracts;

namespace Mesh.Tests.Integration;

/// <summary>The gateway's balancing policy is a setting, so ours can be compared with YARP's on the same backends.</summary>
[Collection(MeshFleetDefinition.Name)]
public sealed class BalancingPolicyTests(MeshFleet fleet)
{
    [Fact]
    public async Task Round_robin_alternates_the_backends_and_an_unknown_policy_stops_the_gateway_at_start()
    {
        await using var gateway = await MeshFleet.StartGatewayAsync(fleet.Backends.Select(b => b.Url), "--Mesh:Balancing:Policy=RoundRobin");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url, Timeout = TimeSpan.FromSeconds(30) };

        var served = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            using var response = await client.PostAsJsonAsync(
                new Uri("/v1/audio/speech/stream/pcm", UriKind.Relative), new { voice = "alloy", input = "Hi." });
            response.EnsureSuccessStatusCode();
            served.Add(response.Headers.GetValues(MeshHeaders.Backend).Single());
        }

        Assert.Equal(2, served.Distinct().Count());
        Assert.All(served.Zip(served.Skip(1)), pair => Assert.NotEqual(pair.First, pair.Second));
        Assert.Contains("Balancing policy RoundRobin", gateway.Output, StringComparison.Ordinal);

        var (exitCode, output) = await DotnetProcess.RunToExitAsync(
            [RepoPaths.GatewayDll, "--contentRoot", Path.GetDirectoryName(RepoPaths.GatewayDll)!, "--urls", "http://127.0.0.1:0", "--Mesh:Balancing:Policy=Fastest"],
            TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, exitCode);
        Assert.Contains("Mesh:Balancing:Policy must be one of", output, StringComparison.Ordinal);
    }
}
