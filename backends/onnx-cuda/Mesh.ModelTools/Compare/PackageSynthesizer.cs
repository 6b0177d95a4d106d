using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Mesh.Backend.Engine;
using Mesh.Backend.ModelFamilies;
using Mesh.ModelGeneration;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.ModelTools.Compare;

/// <summary>
/// One utterance as a package rendered it: audio samples (for <c>ref-ar</c>, the logits of every step), the token
/// durations a staged model predicted (null for end-to-end graphs), and the wall time it took.
/// <paramref name="Tokens"/> counts the reference models' tokens (decode steps for <c>ref-ar</c>); null for the families.
/// </summary>
public sealed record Rendering(float[] Samples, long[]? Durations, TimeSpan Latency, int? Tokens = null);

/// <summary>Renders text with one model package, deterministically: the same text gives the same samples.</summary>
public abstract class PackageSynthesizer : IDisposable
{
    /// <summary><c>kokoro</c>, <c>piper</c>, <c>ref-staged</c> or <c>ref-ar</c>.</summary>
    public abstract string Kind { get; }

    /// <summary>The audio rate; 0 when the output is not audio (<c>ref-ar</c>'s logits).</summary>
    public abstract int SampleRate { get; }

    public abstract string Precision { get; }

    /// <summary>The voice used (null where the package has none).</summary>
    public virtual string? Voice => null;

    /// <summary>
    /// Renders <paramref name="text"/>. A staged model given <paramref name="durations"/> (another rendering's, same
    /// tokens) decodes with them, so two precisions are compared sample by sample even where a rounded duration flips.
    /// </summary>
    public abstract Task<Rendering> RenderAsync(string text, long[]? durations, CancellationToken cancellationToken);

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Opens a generated reference package (<c>reference.json</c>) or a served family's package.</summary>
    /// <exception cref="ModelLoadException">The package is not one of these, or does not load.</exception>
    public static async Task<PackageSynthesizer> OpenAsync(string directory, EngineSettings settings, string? voice, CancellationToken cancellationToken)
    {
        var reference = Path.Combine(directory, "reference.json");
        if (!File.Exists(reference))
        {
            return new FamilySynthesizer(await SpeechModelLoader.LoadAsync(directory, settings, null, NullLogger.Instance, cancellationToken), voice);
        }

        // Everything is read before the engine starts: a description that does not hold is named, and nothing is left open.
        string? family;
        GraphFile[] graphs;
        (int SampleRate, int Layers, int Width) sizes;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(reference));
            var root = document.RootElement;
            family = Property(root, "family").GetString();
            graphs = [.. Property(root, "graphs").EnumerateObject().Select(g => new GraphFile(g.Name, Path.Combine(directory, g.Value.GetString() ?? string.Empty)))];
            sizes = family switch
            {
                ModelGenerator.RefStaged => (Property(root, "sample_rate").GetInt32(), 0, 0),
                ModelGenerator.RefAr => (0, Property(root, "layers").GetInt32(), Property(root, "width").GetInt32()),
                _ => throw new ModelLoadException($"'{directory}': reference family '{family}' has no renderer."),
            };
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new ModelLoadException($"'{reference}' does not describe a reference model: {ex.Message}", ex);
        }

        var id = Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));
        InferenceEngine engine;
        try
        {
            engine = await InferenceEngine.CreateAsync(id, graphs, settings, null, NullLogger.Instance, cancellationToken);
        }
        catch (EngineLoadException ex)
        {
            throw new ModelLoadException($"'{directory}' failed to load: {ex.Message}", ex);
        }

        return family == ModelGenerator.RefStaged
            ? new StagedSynthesizer(engine, sizes.SampleRate)
            : new StepSynthesizer(engine, sizes.Layers, sizes.Width);
    }

    private static JsonElement Property(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) ? value : throw new KeyNotFoundException($"it has no \"{name}\".");

    protected abstract void Dispose(bool disposing);

    /// <summary>Byte-level tokens: the reference models' vocabularies are 256 (staged) and 1024 (step) wide.</summary>
    protected static long[] Tokens(string text) => [.. Encoding.UTF8.GetBytes(text).Select(b => (long)b)];

    private sealed class FamilySynthesizer : PackageSynthesizer
    {
        private readonly ISpeechModel _model;
        private readonly VoiceDescriptor _voice;

        public FamilySynthesizer(ISpeechModel model, string? voice)
        {
            _model = model;
            _voice = (voice is null ? (model.Voices.Count > 0 ? model.Voices[0] : null) : model.ResolveVoice(voice, null))
                ?? throw new ModelLoadException($"Model '{model.Id}' has no voice '{voice}'; it has {string.Join(", ", model.Voices.Select(v => v.Id))}.");
        }

        public override string Kind => _model.Family;

        public override int SampleRate => _model.NativeSampleRate;

        public override string Precision => _model.Runtime?.Precision ?? Precisions.Fp32;

        public override string? Voice => _voice.Id;

        public override async Task<Rendering> RenderAsync(string text, long[]? durations, CancellationToken cancellationToken)
        {
            var started = Stopwatch.GetTimestamp();
            var samples = new List<float>();
            await foreach (var chunk in _model.SynthesizeAsync(new SynthesisRequest(text, _voice, 1.0), cancellationToken))
            {
                samples.AddRange(chunk.Samples);
            }

            return new Rendering([.. samples], null, Stopwatch.GetElapsedTime(started));
        }

        protected override void Dispose(bool disposing) => _model.Dispose();
    }

    /// <summary>ref-staged: encoder → durations → host-side expansion → decoder, as a Kokoro-like two-stage model runs.</summary>
    private sealed class StagedSynthesizer(InferenceEngine engine, int sampleRate) : PackageSynthesizer
    {
        public override string Kind => ModelGenerator.RefStaged;

        public override int SampleRate => sampleRate;

        public override string Precision => engine.Precision;

        public override async Task<Rendering> RenderAsync(string text, long[]? durations, CancellationToken cancellationToken)
        {
            var tokens = Tokens(text);
            var started = Stopwatch.GetTimestamp();
            var (samples, predicted) = await engine.RunAsync(
                worker =>
                {
                    var encoder = worker.Graph("encoder");
                    encoder.SetInput("tokens", tokens, [1, tokens.Length]);
                    var encoded = encoder.Run();
                    var hidden = encoded["hidden"];
                    var width = (int)hidden.Shape[^1];
                    var rows = hidden.ToFloats();
                    var own = encoded["durations"].ToInt64s();
                    var used = durations is not null && durations.Length == own.Length ? durations : own;
                    var frames = new float[used.Sum() * width];
                    var offset = 0;
                    for (var t = 0; t < used.Length; t++)
                    {
                        for (var r = 0; r < used[t]; r++, offset += width)
                        {
                            Array.Copy(rows, t * width, frames, offset, width);
                        }
                    }

                    var decoder = worker.Graph("decoder");
                    decoder.SetInput("frames", frames, [1, frames.Length / width, width]);
                    return (decoder.Run()["audio"].ToFloats(), own);
                },
                cancellationToken);
            return new Rendering(samples, predicted, Stopwatch.GetElapsedTime(started), tokens.Length);
        }

        protected override void Dispose(bool disposing) => engine.Dispose();
    }

    /// <summary>ref-ar: one decode step per token with the recurrent state carried over; the signal is every step's logits.</summary>
    private sealed class StepSynthesizer(InferenceEngine engine, int layers, int width) : PackageSynthesizer
    {
        public override string Kind => ModelGenerator.RefAr;

        public override int SampleRate => 0;

        public override string Precision => engine.Precision;

        public override async Task<Rendering> RenderAsync(string text, long[]? durations, CancellationToken cancellationToken)
        {
            var tokens = Tokens(text);
            var started = Stopwatch.GetTimestamp();
            var logits = await engine.RunAsync(
                worker =>
                {
                    var step = worker.Graph("step");
                    var state = new float[layers * width];
                    var all = new List<float>();
                    foreach (var token in tokens)
                    {
                        step.SetInput("token", [token], [1, 1]);
                        step.SetInput("state", state, [layers, 1, width]);
                        var outputs = step.Run();
                        all.AddRange(outputs["logits"].ToFloats());
                        state = outputs["next_state"].ToFloats();
                    }

                    return all.ToArray();
                },
                cancellationToken);
            return new Rendering(logits, null, Stopwatch.GetElapsedTime(started), tokens.Length);
        }

        protected override void Dispose(bool disposing) => engine.Dispose();
    }
}
