using System.Net;
using System.Net.Http.Json;

namespace Mesh.Tests.Integration;

/// <summary>
/// A gateway whose pool has one backend that fails every request (<c>Faults:FailureRatio=1</c>), ejected by each
/// failure for <c>Mesh:Health:ReactivationSeconds</c>: a pool with no healthy backend until the ejection ends.
/// </summary>
public sealed class EjectedPool : IAsyncDisposable
{
    private static readonly object TinyRequest = new { model = "tts-1", voice = "alloy", input = "Hello there.", response_format = "pcm" };

    private readonly HostProcess _backend;

    private EjectedPool(HostProcess backend, HostProcess gateway)
    {
        _backend = backend;
        Gateway = gateway;
        Client = new HttpClient { BaseAddress = gateway.Url };
    }

    public HostProcess Gateway { get; }

    public HttpClient Client { get; }

    public static async Task<EjectedPool> StartAsync(int reactivationSeconds)
    {
        var backend = await MeshFleet.StartBackendAsync("b0", "test", "--Faults:FailureRatio=1");
        var gateway = await MeshFleet.StartGatewayAsync(
            [backend.Url], "--Mesh:Health:ConsecutiveFailures=1", $"--Mesh:Health:ReactivationSeconds={reactivationSeconds}");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        return new EjectedPool(backend, gateway);
    }

    /// <summary>Sends requests until the backend is ejected, and returns the first 503 that says so.</summary>
    public async Task<HttpResponseMessage> EjectAsync()
    {
        // The ejection lands once the failed answer is complete, so the next request may still reach the backend.
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var response = await Client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), TinyRequest);
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
            {
                return response;
            }

            response.Dispose();
        }

        throw new Xunit.Sdk.XunitException("the failing backend was not ejected after 10 requests");
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Gateway.DisposeAsync();
        await _backend.DisposeAsync();
    }
}
