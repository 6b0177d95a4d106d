using System.Text.Json;
using Mesh.Backend.Engine;
using Mesh.Backend.ModelFamilies.Espeak;
using Mesh.Backend.ModelFamilies.Onnx;
using Microsoft.Extensions.Logging;

namespace Mesh.Backend.ModelFamilies.Kokoro;

/// <summary>One Kokoro inference: padded ids, the voice's style row for their length, and the speed.</summary>
public sealed record KokoroUtterance(long[] InputIds, float[] Style, float Speed);

/// <summary>
/// Kokoro-82M and models with its contract: espeak-ng IPA → Kokoro symbols → ids (0 at both ends, at most 510
/// between), a style row from the voice by token count, a speed input; 24 kHz audio. Input names and types differ
/// between exports (tokens/input_ids, float or int32 speed), so they are read from the model.
/// </summary>
public sealed class KokoroModel : OnnxSpeechModel<KokoroUtterance>
{
    public const string FamilyName = "kokoro";
    public const int SampleRate = 24000;
    private const string Graph = "model";

    private readonly EspeakPhonemizer _phonemizer;
    private readonly Dictionary<string, KokoroVoice> _voices;
    private readonly IReadOnlyDictionary<char, long> _vocabulary;
    private readonly KokoroContract _contract;

    private KokoroModel(
        string id,
        InferenceEngine engine,
        EspeakPhonemizer phonemizer,
        IReadOnlyList<KokoroVoice> voices,
        IReadOnlyDictionary<char, long> vocabulary,
        KokoroContract contract)
        : base(id, FamilyName, SampleRate, [.. voices.Select(v => new VoiceDescriptor(v.Name, v.Language, v.Name))], engine)
    {
        _phonemizer = phonemizer;
        _voices = voices.ToDictionary(v => v.Name, StringComparer.OrdinalIgnoreCase);
        _vocabulary = vocabulary;
        _contract = contract;
    }

    public static async Task<KokoroModel> LoadAsync(
        ModelPackage package, EngineSettings settings, IEngineObserver? observer, ILogger logger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(package);
        var phonemizer = EspeakPhonemizer.Get(logger);
        IReadOnlyDictionary<char, long> vocabulary = package.KokoroConfig is { } config ? ReadVocabulary(config) : KokoroTokenizer.Vocabulary;
        var engine = await ModelPackage.StartEngineAsync(package, [new GraphFile(Graph, package.ModelFile)], settings, observer, logger, cancellationToken);
        try
        {
            var contract = KokoroContract.From(engine.Signatures[Graph], package);
            var voices = package.VoicesFile is { } file
                ? KokoroVoicePack.ReadNpz(file, contract.StyleWidth)
                : KokoroVoicePack.ReadDirectory(package.VoicesDirectory!, contract.StyleWidth);
            return new KokoroModel(package.Id, engine, phonemizer, voices, vocabulary, contract);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException)
        {
            engine.Dispose();
            throw new ModelLoadException($"Kokoro package '{package.Directory}': {ex.Message}", ex);
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }

    public override VoiceDescriptor? ResolveVoice(string voice, string? language) =>
        PackageVoices.Resolve(voice, language, Voices, v => _voices[v.FamilyVoice].Gender);

    /// <summary>Sentence by sentence (a sentence over 510 tokens in pieces), each with the style row for its length.</summary>
    protected override async Task<IReadOnlyList<KokoroUtterance>> PrepareAsync(SynthesisRequest request, CancellationToken cancellationToken)
    {
        var voice = _voices[request.Voice.FamilyVoice];
        var clauses = await _phonemizer.PhonemizeAsync(request.Text, request.Voice.Language, KokoroTokenizer.Tie, cancellationToken);
        var utterances = new List<KokoroUtterance>();
        foreach (var sentence in ClauseText.Sentences(clauses))
        {
            var ids = KokoroTokenizer.Tokenize(KokoroTokenizer.ToKokoroPhonemes(sentence, request.Voice.Language), _vocabulary);
            foreach (var piece in KokoroTokenizer.Split(ids, _vocabulary))
            {
                utterances.Add(new KokoroUtterance(KokoroTokenizer.WithPads(piece), voice.StyleFor(piece.Length), (float)request.Speed));
            }
        }

        return utterances;
    }

    protected override float[] Infer(InferenceWorker worker, KokoroUtterance utterance)
    {
        var graph = worker.Graph(Graph);
        graph.SetInput(_contract.Tokens, utterance.InputIds, [1, utterance.InputIds.Length]);
        graph.SetInput(_contract.Style, utterance.Style, [1, utterance.Style.Length]);
        graph.SetInput(_contract.Speed, [utterance.Speed], _contract.SpeedRank == 0 ? [] : [1]);
        var samples = graph.Run()[_contract.Waveform].ToFloats();
        for (var i = 0; i < samples.Length; i++)
        {
            samples[i] = Math.Clamp(samples[i], -1f, 1f);
        }

        return samples;
    }

    private static Dictionary<char, long> ReadVocabulary(string configPath)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(configPath));
            if (!document.RootElement.TryGetProperty("vocab", out var vocab))
            {
                throw new ModelLoadException($"{configPath} has no \"vocab\" object.");
            }

            var vocabulary = new Dictionary<char, long>();
            foreach (var entry in vocab.EnumerateObject().Where(e => e.Name.Length == 1))
            {
                vocabulary[entry.Name[0]] = entry.Value.GetInt64();
            }

            return vocabulary;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            throw new ModelLoadException($"{configPath} is not a Kokoro config.json: {ex.Message}", ex);
        }
    }
}

/// <summary>Which inputs and outputs of a Kokoro export play which part, read from its metadata.</summary>
internal sealed record KokoroContract(string Tokens, string Style, int StyleWidth, string Speed, int SpeedRank, string Waveform)
{
    public static KokoroContract From(ModelSignature signature, ModelPackage package)
    {
        var tokens = Pick(signature.Inputs, ["input_ids", "tokens"], s => s.IsInteger && s.Rank == 2);
        var style = Pick(signature.Inputs, ["style", "ref_s"], s => s.IsFloat && s.Rank == 2);
        var speed = Pick(signature.Inputs, ["speed"], s => s.Rank <= 1);
        // Exports name the audio waveform or audio; with neither, the one float output is it.
        var waveform = Pick(signature.Outputs, ["waveform", "audio"], s => s.IsFloat) ?? signature.Outputs.FirstOrDefault(o => o.IsFloat);
        if (tokens is null || style is null || speed is null || waveform is null)
        {
            throw new ModelLoadException(
                $"{package.ModelFile} does not have Kokoro's contract (inputs input_ids|tokens int [1,T], style float [1,256], speed [1]; " +
                $"a float waveform output); it has {signature}.");
        }

        var width = style.Shape[1] > 0 ? (int)style.Shape[1] : 256;
        return new KokoroContract(tokens.Name, style.Name, width, speed.Name, speed.Rank, waveform.Name);
    }

    private static TensorSpec? Pick(IReadOnlyList<TensorSpec> specs, string[] names, Func<TensorSpec, bool> fits) =>
        specs.FirstOrDefault(s => names.Contains(s.Name) && fits(s));
}
