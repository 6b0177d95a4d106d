using System.Runtime.CompilerServices;
using Mesh.Backend.Engine;

namespace Mesh.Backend.ModelFamilies.Onnx;

/// <summary>
/// A family that runs on the engine: the family turns text into utterances (token ids and conditioning, one per
/// sentence or piece of one), the engine's workers turn each utterance into samples, and chunks stream out in order.
/// </summary>
public abstract class OnnxSpeechModel<TUtterance> : ISpeechModel
{
    private const string WarmUpText = "Warm up.";

    protected OnnxSpeechModel(string id, string family, int nativeSampleRate, IReadOnlyList<VoiceDescriptor> voices, InferenceEngine engine)
    {
        Id = id;
        Family = family;
        NativeSampleRate = nativeSampleRate;
        Voices = voices;
        Engine = engine;
    }

    public string Id { get; }

    public string Family { get; }

    public int NativeSampleRate { get; }

    public IReadOnlyList<VoiceDescriptor> Voices { get; }

    /// <summary>Kokoro's <c>speed</c> and Piper's <c>length_scale</c> cover the API's whole range natively.</summary>
    public SpeedRange NativeSpeed { get; } = new(0.25, 4.0);

    /// <summary>The runtime this model runs on (provider, workers, graph signatures).</summary>
    public InferenceEngine Engine { get; }

    public ModelRuntime? Runtime => new(Engine.Provider.Active.ToString().ToLowerInvariant(), Engine.Precision, Engine.Graphs);

    public abstract VoiceDescriptor? ResolveVoice(string voice, string? language);

    public async IAsyncEnumerable<AudioChunk> SynthesizeAsync(
        SynthesisRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var utterances = await PrepareAsync(request, cancellationToken);
        foreach (var utterance in utterances)
        {
            var samples = await Engine.RunAsync(worker => Infer(worker, utterance), cancellationToken);
            if (samples.Length > 0)
            {
                yield return new AudioChunk(samples, NativeSampleRate);
            }
        }
    }

    public async Task WarmUpAsync(VoiceDescriptor voice, CancellationToken cancellationToken)
    {
        var utterances = await PrepareAsync(new SynthesisRequest(WarmUpText, voice, 1.0), cancellationToken);
        if (utterances.Count == 0)
        {
            throw new ModelLoadException($"Model '{Id}': the warm-up text produced no input for voice '{voice.Id}'.");
        }

        await Engine.RunOnEveryWorkerAsync(worker => Infer(worker, utterances[0]), cancellationToken);
    }

    public void Dispose()
    {
        Engine.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Text → model inputs, one utterance per inference.</summary>
    protected abstract Task<IReadOnlyList<TUtterance>> PrepareAsync(SynthesisRequest request, CancellationToken cancellationToken);

    /// <summary>One inference on <paramref name="worker"/>'s thread; returns mono samples in [-1, 1].</summary>
    protected abstract float[] Infer(InferenceWorker worker, TUtterance utterance);

    /// <summary>The graph's inputs and outputs, for error messages.</summary>
    protected static string Describe(ModelSignature signature) => signature.ToString();
}
