using Mesh.Backend.Engine;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Tests.Engine;

/// <summary>
/// Shape buckets on the CPU provider: the same padding, trimming, shape guard and device-resident recurrent state the
/// CUDA graphs run on, checked against unbucketed runs of the same graphs.
/// </summary>
[Collection(ReferenceModelsDefinition.Name)]
public sealed class BucketedGraphTests(ReferenceModels models)
{
    private static readonly EngineSettings Bucketed = EngineSettings.Cpu with
    {
        GraphBuckets = GraphBucketing.Parse("encoder.tokens=8,16,32;decoder.frames=32,64,128;step.batch=1,4"),
    };

    [Fact]
    public async Task Staged_stages_padded_to_buckets_give_the_unbucketed_results()
    {
        using var eager = await InferenceEngine.CreateAsync("ref-staged", models.Staged, EngineSettings.Cpu, null, NullLogger.Instance, CancellationToken.None);
        using var bucketed = await InferenceEngine.CreateAsync("ref-staged", models.Staged, Bucketed, null, NullLogger.Instance, CancellationToken.None);
        long[] tokens = [3, 14, 15, 92, 65, 35, 89, 79, 32, 38, 46];

        var expected = await eager.RunAsync(worker => Synthesize(worker, tokens), CancellationToken.None);
        var actual = await bucketed.RunAsync(
            worker =>
            {
                Assert.IsType<BucketedGraph>(worker.Graph("encoder"));
                Assert.False(((BucketedGraph)worker.Graph("decoder")).CapturesGraphs);
                return Synthesize(worker, tokens);
            },
            CancellationToken.None);

        Assert.Equal(expected.Durations, actual.Durations);
        Assert.Equal([1L, tokens.Length, 768], actual.HiddenShape);
        Assert.Equal(expected.Audio.Length, actual.Audio.Length);
        Assert.Equal(expected.Durations.Sum() * 600, actual.Audio.Length);
        Assert.All(expected.Audio.Zip(actual.Audio), p => Assert.Equal(p.First, p.Second, 1e-4f));
    }

    [Fact]
    public async Task Requests_beyond_the_largest_bucket_or_with_disagreeing_lengths_are_refused_not_replayed()
    {
        using var staged = await InferenceEngine.CreateAsync("ref-staged", models.Staged, Bucketed, null, NullLogger.Instance, CancellationToken.None);
        var tooLong = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => staged.RunAsync(
            worker =>
            {
                var encoder = worker.Graph("encoder");
                encoder.SetInput("tokens", new long[33], [1, 33]);
                return encoder.Run();
            },
            CancellationToken.None));
        Assert.Contains("from 1 to 32", tooLong.Message, StringComparison.Ordinal);

        using var ar = await InferenceEngine.CreateAsync("ref-ar", models.Ar, Bucketed, null, NullLogger.Instance, CancellationToken.None);
        var disagree = await Assert.ThrowsAsync<ArgumentException>(() => ar.RunAsync(
            worker =>
            {
                var step = worker.Graph("step");
                step.SetInput("token", [1L, 2L], [2, 1]);
                step.SetInput("state", new float[24 * 3 * 1024], [24, 3, 1024]);
                return step.Run();
            },
            CancellationToken.None));
        Assert.Contains("disagree on 'batch'", disagree.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_decode_loop_keeps_the_state_on_the_device_and_matches_step_by_step_runs()
    {
        long[][] steps = [[5, 9, 200], [17, 3, 999], [42, 42, 42], [0, 1, 2]];
        using var eager = await InferenceEngine.CreateAsync("ref-ar", models.Ar, EngineSettings.Cpu, null, NullLogger.Instance, CancellationToken.None);
        var expected = await eager.RunAsync(
            worker =>
            {
                var step = worker.Graph("step");
                var state = new float[24 * 3 * 1024];
                var logits = new List<float[]>();
                foreach (var tokens in steps)
                {
                    step.SetInput("token", tokens, [3, 1]);
                    step.SetInput("state", state, [24, 3, 1024]);
                    var outputs = step.Run();
                    logits.Add(outputs["logits"].ToFloats());
                    state = outputs["next_state"].ToFloats();
                }

                return logits;
            },
            CancellationToken.None);

        using var bucketed = await InferenceEngine.CreateAsync("ref-ar", models.Ar, Bucketed, null, NullLogger.Instance, CancellationToken.None);
        var (actual, restarted) = await bucketed.RunAsync(
            worker =>
            {
                var step = (BucketedGraph)worker.Graph("step");
                var loop = step.StartDecode(3);
                Assert.Equal(4, loop.BucketSize);
                var logits = steps.Select(tokens =>
                {
                    var outputs = loop.Step(tokens);
                    Assert.Single(outputs.All); // the state stays where the next step reads it
                    Assert.Equal([3L, 1024], outputs["logits"].Shape);
                    return outputs["logits"].ToFloats();
                }).ToList();
                return (logits, step.StartDecode(3).Step(steps[0])["logits"].ToFloats());
            },
            CancellationToken.None);

        foreach (var (e, a) in expected.Zip(actual))
        {
            Assert.All(e.Zip(a), p => Assert.Equal(p.First, p.Second, 1e-4f));
        }

        Assert.NotEqual(actual[0], actual[1]);
        Assert.All(expected[0].Zip(restarted), p => Assert.Equal(p.First, p.Second, 1e-4f)); // a new loop starts from zero state
    }

    [Theory]
    [InlineData("encoder.tokens=16,8", "in ascending order")]
    [InlineData("encoder.tokens=8,8", "without repeats")]
    [InlineData("encoder.tokens=0,8", "positive")]
    [InlineData("encoder=16", "GRAPH.DIMENSION=SIZE")]
    [InlineData("encoder.tokens=16;encoder.tokens=32", "more than once")]
    [InlineData("step.batch=1,x", "not a positive integer")]
    public void Bucket_settings_refuse_what_cannot_be_captured(string value, string reason)
    {
        var error = Assert.Throws<ArgumentException>(() => GraphBucketing.Parse(value));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bucket_settings_parse_and_pick_the_smallest_bucket_that_holds_a_request()
    {
        var parsed = GraphBucketing.Parse(" encoder.tokens=16,32 ; step.batch=1,4,16 ");
        Assert.Equal(["encoder.tokens=16,32", "step.batch=1,4,16"], parsed.Select(b => b.ToString()));
        Assert.Equal((16, 32, -1), (parsed[0].BucketFor(1), parsed[0].BucketFor(17), parsed[0].BucketFor(33)));
    }

    [Fact]
    public void Default_buckets_apply_only_where_a_graph_declares_their_dimension_and_no_other_dynamic_one()
    {
        var settings = EngineSettings.Cpu with { CudaGraphs = true };
        var tokens = Inputs(["", "tokens"]);
        Assert.Null(settings.BucketsFor("encoder", tokens, ExecutionProviderKind.Cpu)); // defaults serve capture, which is CUDA's
        Assert.Equal("tokens", settings.BucketsFor("encoder", tokens, ExecutionProviderKind.Cuda)!.Dimension);
        Assert.Null(settings.BucketsFor("model", tokens, ExecutionProviderKind.Cuda)); // single-graph families: data-dependent shapes

        // An encoder without the dimension, or with another dynamic one, runs eagerly instead of failing the load.
        Assert.Null(settings.BucketsFor("encoder", Inputs(["", "phonemes"]), ExecutionProviderKind.Cuda));
        Assert.Null(settings.BucketsFor("encoder", Inputs(["", "tokens"], ["", "frames"]), ExecutionProviderKind.Cuda));

        // Configured buckets apply by name: a graph they do not fit fails its load, saying why.
        var configured = settings with { GraphBuckets = GraphBucketing.Parse("encoder.tokens=16,32") };
        Assert.Equal("tokens", configured.BucketsFor("encoder", Inputs(["", "phonemes"]), ExecutionProviderKind.Cuda)!.Dimension);
    }

    [Fact]
    public void A_request_runs_on_a_larger_bucket_only_where_its_graph_replayed_clearly_faster()
    {
        // Batch 16 replays clearly faster than batch 1, within 10% of batches 4 and 8, which keep their own graphs.
        var routes = BucketRoute.Fastest([1, 4, 8, 16], [0.717, 0.60, 0.57, 0.556]);
        Assert.Equal([16, 4, 8, 16], routes.Select(r => r.RunsOn));
        Assert.Equal((0.717, 0.556), (routes[0].ReplayMs, routes[0].RunsOnReplayMs));

        // Time that grows with the bucket (the CPU, a compute-bound decoder): every request stays on its own bucket.
        Assert.Equal([64, 128, 256], BucketRoute.Fastest([64, 128, 256], [0.3, 0.5, 0.9]).Select(r => r.RunsOn));
        Assert.Equal([1, 2], BucketRoute.Fastest([1, 2], [1.0, 0.91]).Select(r => r.RunsOn)); // within the margin
        Assert.Throws<ArgumentException>(() => BucketRoute.Fastest([1, 2], [1.0]));
    }

    /// <summary>A signature of int64 inputs, one per list of dimension names: "" is a fixed 1, a name a dynamic dimension.</summary>
    private static ModelSignature Inputs(params string[][] dimensions) =>
        new([.. dimensions.Select((symbols, i) => new TensorSpec($"input{i}", ElementKind.Int64, [.. symbols.Select(s => s.Length == 0 ? 1L : -1L)]) { Symbols = symbols })], []);

    private static (long[] Durations, long[] HiddenShape, float[] Audio) Synthesize(InferenceWorker worker, long[] tokens)
    {
        var encoder = worker.Graph("encoder");
        encoder.SetInput("tokens", tokens, [1, tokens.Length]);
        var encoded = encoder.Run();
        var hidden = encoded["hidden"].ToFloats();
        var durations = encoded["durations"].ToInt64s();
        var frames = durations.SelectMany((d, t) => Enumerable.Repeat(t, (int)d)).SelectMany(t => hidden.Skip(t * 768).Take(768)).ToArray();
        var decoder = worker.Graph("decoder");
        decoder.SetInput("frames", frames, [1, frames.Length / 768, 768]);
        return (durations, [.. encoded["hidden"].Shape], decoder.Run()["audio"].ToFloats());
    }
}
