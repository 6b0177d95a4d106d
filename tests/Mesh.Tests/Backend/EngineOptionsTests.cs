using Mesh.Backend.Host;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Mesh.Tests.Backend;

/// <summary>Engine settings as the backend binds and validates them at start.</summary>
public sealed class EngineOptionsTests
{
    [Theory]
    [InlineData("model.tokens=64,32", "the sizes of model.tokens must be positive, without repeats, in ascending order; got 64,32")]
    [InlineData("encoder.tokens=16,32;model.tokens=32,32", "the sizes of model.tokens must be positive, without repeats, in ascending order; got 32,32")]
    [InlineData("model.tokens=0,32", "the sizes of model.tokens must be positive")]
    [InlineData("model.tokens", "entry 'model.tokens' is not GRAPH.DIMENSION=SIZE")]
    [InlineData("model.tokens=16;model.tokens=32", "buckets graph 'model' more than once")]
    public void Cuda_graph_buckets_that_the_engine_would_refuse_stop_the_start_with_the_reason(string value, string reason)
    {
        using var services = Services(value);
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<EngineOptions>>().Value);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Cuda_graph_buckets_that_validate_reach_the_engine_settings()
    {
        using var services = Services("encoder.tokens=16,32;step.batch=1,4");
        var settings = services.GetRequiredService<IOptions<EngineOptions>>().Value.ToEngineSettings();
        Assert.Equal(["encoder.tokens=16,32", "step.batch=1,4"], settings.GraphBuckets.Select(b => b.ToString()));
    }

    private static ServiceProvider Services(string buckets)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["CUDA_GRAPH_BUCKETS"] = buckets }).Build();
        return new ServiceCollection().AddBackendServices(configuration).BuildServiceProvider();
    }
}
