using Mesh.Backend.Host;
using Mesh.Contracts.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Mesh.Tests.Backend;

/// <summary>The model's lifecycle in <see cref="ModelHost"/>, on the built-in espeak model.</summary>
public sealed class ModelHostTests
{
    [Fact]
    public async Task A_request_that_leaves_during_an_on_demand_load_leaves_the_model_loadable()
    {
        using var host = NewHost(new EngineOptions { PreloadModel = false });
        await host.StartAsync(CancellationToken.None);
        await WaitForStatusAsync(host, "unloaded");

        // The client leaves a millisecond in, while its request loads the model.
        using (var leaving = new CancellationTokenSource(TimeSpan.FromMilliseconds(1)))
        {
            try
            {
                (await host.AcquireAsync(leaving.Token))?.Dispose();
            }
            catch (OperationCanceledException)
            {
                // Left while waiting to load: as good as not asking.
            }
        }

        using var lease = await host.AcquireAsync(CancellationToken.None);
        Assert.NotNull(lease);
        Assert.Equal("ready", host.Status);
        Assert.True(host.IsReady);
        await host.StopAsync(CancellationToken.None);
    }

    private static ModelHost NewHost(EngineOptions engine) => new(
        Options.Create(engine), Options.Create(new FaultOptions()), new EngineMetrics(Options.Create(new BackendOptions()), Options.Create(engine)), new DrainState(), NullLogger<ModelHost>.Instance);

    private static async Task WaitForStatusAsync(ModelHost host, string status)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (host.Status != status)
        {
            await Task.Delay(10, timeout.Token);
        }
    }
}
