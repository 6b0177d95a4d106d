using Mesh.Backend.Engine;
using Mesh.Backend.ModelFamilies.Espeak;
using Mesh.Backend.ModelFamilies.Onnx;
using Microsoft.Extensions.Logging;

namespace Mesh.Backend.ModelFamilies.Piper;

/// <summary>
/// Piper voices (VITS exports): <c>NAME.onnx</c> + <c>NAME.onnx.json</c>. espeak-ng IPA → ids from the config's map,
/// one inference per sentence with <c>scales</c> and, for multi-speaker voices, <c>sid</c>; audio at the config's rate.
/// </summary>
public sealed class PiperModel : OnnxSpeechModel<PiperUtterance>
{
    public const string FamilyName = "piper";
    private const string Graph = "model";

    private readonly PiperConfig _config;
    private readonly EspeakPhonemizer? _phonemizer;
    private readonly PiperContract _contract;

    private PiperModel(string id, InferenceEngine engine, PiperConfig config, EspeakPhonemizer? phonemizer, PiperContract contract, IReadOnlyList<VoiceDescriptor> voices)
        : base(id, FamilyName, config.SampleRate, voices, engine)
    {
        _config = config;
        _phonemizer = phonemizer;
        _contract = contract;
    }

    public static async Task<PiperModel> LoadAsync(
        ModelPackage package, EngineSettings settings, IEngineObserver? observer, ILogger logger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(package);
        PiperConfig config;
        try
        {
            config = PiperConfig.Load(package.PiperConfig!);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException)
        {
            throw new ModelLoadException($"Piper package '{package.Directory}': {ex.Message}", ex);
        }

        var phonemizer = config.PhonemeType == "text" ? null : EspeakPhonemizer.Get(logger);
        if (phonemizer is not null && !await phonemizer.HasVoiceAsync(config.EspeakVoice, cancellationToken))
        {
            throw new ModelLoadException(
                $"Piper package '{package.Directory}': espeak.voice '{config.EspeakVoice}' in {Path.GetFileName(package.PiperConfig)} " +
                "is no voice or language espeak-ng has (espeak-ng --voices lists them).");
        }

        var engine = await ModelPackage.StartEngineAsync(package, [new GraphFile(Graph, package.ModelFile)], settings, observer, logger, cancellationToken);
        try
        {
            var contract = PiperContract.From(engine.Signatures[Graph], package);
            var language = config.EspeakVoice;
            var voices = config.SpeakerIdMap.Count > 0
                ? config.SpeakerIdMap.OrderBy(s => s.Value).Select(s => new VoiceDescriptor(s.Key, language, s.Key)).ToArray()
                : [new VoiceDescriptor(Path.GetFileNameWithoutExtension(package.ModelFile), language, string.Empty)];
            return new PiperModel(package.Id, engine, config, phonemizer, contract, voices);
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }

    public override VoiceDescriptor? ResolveVoice(string voice, string? language) =>
        PackageVoices.Resolve(voice, language, Voices, _ => null);

    /// <summary>One utterance per sentence, as Piper does.</summary>
    protected override async Task<IReadOnlyList<PiperUtterance>> PrepareAsync(SynthesisRequest request, CancellationToken cancellationToken)
    {
        IReadOnlyList<string> sentences = _phonemizer is null
            ? [request.Text]
            : ClauseText.Sentences(await _phonemizer.PhonemizeAsync(request.Text, _config.EspeakVoice, null, cancellationToken));
        return [.. sentences
            .Select(s => PiperFrontEnd.Utterance(s, _config, request.Voice.FamilyVoice, request.Speed, _contract.SpeakerId is not null))
            .Where(u => u.Ids.Length > 3)];
    }

    protected override float[] Infer(InferenceWorker worker, PiperUtterance utterance)
    {
        var graph = worker.Graph(Graph);
        graph.SetInput(_contract.Input, utterance.Ids, [1, utterance.Ids.Length]);
        graph.SetInput(_contract.InputLengths, [utterance.Ids.Length], [1]);
        graph.SetInput(_contract.Scales, utterance.Scales, [3]);
        if (_contract.SpeakerId is { } sid)
        {
            graph.SetInput(sid, [utterance.SpeakerId ?? 0], [1]);
        }

        // Piper reads the last dimension of [1,1,1,samples] and peak-normalizes (rhasspy/piper piper.cpp).
        var samples = graph.Run()[_contract.Output].ToFloats();
        var peak = 0f;
        foreach (var sample in samples)
        {
            peak = Math.Max(peak, Math.Abs(sample));
        }

        var gain = 1f / Math.Max(0.01f, peak);
        for (var i = 0; i < samples.Length; i++)
        {
            samples[i] = Math.Clamp(samples[i] * gain, -1f, 1f);
        }

        return samples;
    }
}

/// <summary>The Piper export's inputs (input, input_lengths, scales, optional sid) and audio output, from its metadata.</summary>
internal sealed record PiperContract(string Input, string InputLengths, string Scales, string? SpeakerId, string Output)
{
    public static PiperContract From(ModelSignature signature, ModelPackage package)
    {
        var input = signature.Input("input");
        var lengths = signature.Input("input_lengths");
        var scales = signature.Input("scales");
        var output = signature.Output("output") ?? signature.Outputs.FirstOrDefault(o => o.IsFloat);
        if (input is not { IsInteger: true, Rank: 2 } || lengths is not { IsInteger: true } || scales is not { IsFloat: true } || output is null)
        {
            throw new ModelLoadException(
                $"{package.ModelFile} does not have Piper's contract (inputs input int [1,T], input_lengths int [1], scales float [3], " +
                $"optional sid; a float output); it has {signature}.");
        }

        return new PiperContract(input.Name, lengths.Name, scales.Name, signature.Input("sid")?.Name, output.Name);
    }
}
