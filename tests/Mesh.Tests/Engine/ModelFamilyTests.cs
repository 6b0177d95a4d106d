using Mesh.Backend.Engine;
using Mesh.Backend.ModelFamilies;
using Mesh.Backend.ModelFamilies.Kokoro;
using Mesh.Backend.ModelFamilies.Piper;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Tests.Engine;

/// <summary>The kokoro and piper families end to end on the CPU provider, over the generated models.</summary>
[Collection(GeneratedModelsDefinition.Name)]
public sealed class ModelFamilyTests(GeneratedModels models)
{
    // Kokoro's decoder makes 600 samples per predicted frame (24 kHz); Piper's hop is 256.
    private const int KokoroSamplesPerFrame = 600;
    private const int PiperHop = 256;

    private static readonly EngineSettings Cpu = EngineSettings.Cpu with { Workers = 2 };

    [Fact]
    public async Task Kokoro_package_loads_with_its_voices_at_24_kHz_and_speaks_every_sentence()
    {
        using var model = (KokoroModel)await SpeechModelLoader.LoadAsync(models.KokoroTiny, Cpu, null, NullLogger.Instance, CancellationToken.None);

        Assert.Equal("kokoro", model.Family);
        Assert.Equal("kokoro-tiny", model.Id);
        Assert.Equal(24000, model.NativeSampleRate);
        Assert.Equal(["af_tiny", "am_tiny", "bf_tiny"], model.Voices.Select(v => v.Id));
        Assert.Equal("am_tiny", model.ResolveVoice("onyx", null)!.Id);
        Assert.Equal("af_tiny", model.ResolveVoice("alloy", null)!.Id);
        Assert.Equal("bf_tiny", model.ResolveVoice("alloy", "en-gb")!.Id);
        Assert.Null(model.ResolveVoice("nobody", null));

        var chunks = await Collect(model, "Hello there. General test.", "af_tiny", 1.0);
        Assert.Equal(2, chunks.Count);
        Assert.All(chunks, c => Assert.Equal(24000, c.SampleRate));
        Assert.All(chunks, c => Assert.Equal(0, c.Samples.Length % KokoroSamplesPerFrame));
    }

    [Fact]
    public async Task Kokoro_output_length_follows_the_model_durations()
    {
        using var model = (KokoroModel)await SpeechModelLoader.LoadAsync(models.KokoroTiny, Cpu, null, NullLogger.Instance, CancellationToken.None);
        var style = new float[256];
        long[] ids = [0, 50, 83, 54, 156, 31, 16, 81, 156, 86, 123, 4, 0];

        (int Samples, long[] Durations) Run(InferenceWorker worker, float speed)
        {
            var graph = worker.Graph("model");
            graph.SetInput("input_ids", ids, [1, ids.Length]);
            graph.SetInput("style", style, [1, 256]);
            graph.SetInput("speed", [speed], [1]);
            var outputs = graph.Run();
            return (outputs["waveform"].Length, outputs["duration"].ToInt64s());
        }

        var normal = await model.Engine.RunAsync(w => Run(w, 1f), CancellationToken.None);
        var fast = await model.Engine.RunAsync(w => Run(w, 2f), CancellationToken.None);

        Assert.Equal(ids.Length, normal.Durations.Length);
        Assert.All(normal.Durations, d => Assert.InRange(d, 1, 8));
        Assert.Equal(normal.Durations.Sum() * KokoroSamplesPerFrame, normal.Samples);
        Assert.Equal(fast.Durations.Sum() * KokoroSamplesPerFrame, fast.Samples);
        Assert.True(fast.Samples < normal.Samples, $"speed 2 gave {fast.Samples} samples, speed 1 {normal.Samples}");

        var slow = await Collect(model, "Hello there.", "af_tiny", 0.5);
        var quick = await Collect(model, "Hello there.", "af_tiny", 2.0);
        Assert.True(slow.Sum(c => c.Samples.Length) > quick.Sum(c => c.Samples.Length));
    }

    [Fact]
    public async Task Piper_package_loads_its_speakers_at_the_config_rate_and_speaker_changes_the_audio()
    {
        using var model = (PiperModel)await SpeechModelLoader.LoadAsync(models.PiperTiny, Cpu, null, NullLogger.Instance, CancellationToken.None);

        Assert.Equal("piper", model.Family);
        Assert.Equal(22050, model.NativeSampleRate);
        Assert.Equal(["tiny_a", "tiny_b"], model.Voices.Select(v => v.Id));
        Assert.Equal("tiny_a", model.ResolveVoice("alloy", null)!.Id);
        Assert.NotNull(model.ResolveVoice("tiny_b", "en"));
        Assert.Contains("input_lengths", model.Engine.Signatures["model"].Inputs.Select(i => i.Name));

        var a = await Collect(model, "Hello there. General test.", "tiny_a", 1.0);
        var b = await Collect(model, "Hello there. General test.", "tiny_b", 1.0);
        Assert.Equal(2, a.Count);
        Assert.All(a, c => Assert.Equal(0, c.Samples.Length % PiperHop));
        Assert.NotEqual(a[0].Samples, b[0].Samples);

        // Piper's speed is its length scale: half speed doubles length_scale, so every id gets at least as many frames.
        var slow = await Collect(model, "Hello there.", "tiny_a", 0.5);
        var normal = await Collect(model, "Hello there.", "tiny_a", 1.0);
        Assert.True(slow[0].Samples.Length > normal[0].Samples.Length);
    }

    [Fact]
    public async Task Warm_up_runs_every_worker_and_reports_each_run()
    {
        var observer = new RecordingObserver();
        using var model = await SpeechModelLoader.LoadAsync(models.PiperTiny, EngineSettings.Cpu with { Workers = 3 }, observer, NullLogger.Instance, CancellationToken.None);

        await model.WarmUpAsync(model.ResolveVoice("alloy", null)!, CancellationToken.None);

        Assert.Equal([0, 1, 2], observer.Runs.Select(r => r.Worker).Order());
        Assert.All(observer.Runs, r => Assert.Equal(("piper-tiny", "model", EngineRunTiming.Eager), (r.Model, r.Stage, r.Graph)));
        Assert.Equal(ExecutionProviderKind.Cpu, Assert.Single(observer.Providers).Active);
    }

    [Fact]
    public async Task Concurrent_requests_share_the_workers()
    {
        using var model = await SpeechModelLoader.LoadAsync(models.KokoroTiny, Cpu, null, NullLogger.Instance, CancellationToken.None);
        var voice = model.ResolveVoice("af_tiny", null)!;
        var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Collect(model, "One more sentence.", voice.Id, 1.0)));
        Assert.All(results, r => Assert.Equal(results[0].Single().Samples, r.Single().Samples));
    }

    private static async Task<List<AudioChunk>> Collect(ISpeechModel model, string text, string voice, double speed)
    {
        var chunks = new List<AudioChunk>();
        await foreach (var chunk in model.SynthesizeAsync(new SynthesisRequest(text, model.ResolveVoice(voice, null)!, speed), CancellationToken.None))
        {
            chunks.Add(chunk);
        }

        return chunks;
    }
}
