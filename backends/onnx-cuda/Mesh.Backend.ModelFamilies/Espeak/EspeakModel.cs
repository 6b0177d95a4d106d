using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Mesh.Backend.ModelFamilies.Espeak;

/// <summary>
/// The built-in voice family: libespeak-ng, real speech on the CPU at 22.05 kHz.
/// espeak-ng keeps process-global state (voice, callback, buffers), so every call runs on <see cref="EspeakRuntime"/>'s thread.
/// </summary>
public sealed class EspeakModel : ISpeechModel
{
    public const string FamilyName = "espeak";
    public const string ModelId = "espeak";

    private static readonly SemaphoreSlim LoadLock = new(1, 1);
    private static EspeakModel? s_instance;

    // The synthesis callback has no user pointer we can rely on, so the job in progress is held here; only the espeak thread touches it.
    [ThreadStatic]
    private static SynthesisJob? s_current;

    private readonly EspeakRuntime _runtime;
    private readonly EspeakLanguages _languages;

    private EspeakModel(EspeakRuntime runtime, IReadOnlyList<VoiceDescriptor> voices)
    {
        _runtime = runtime;
        NativeSampleRate = runtime.SampleRate;
        _languages = runtime.Languages;
        Voices = voices;
    }

    public string Id => ModelId;

    public string Family => FamilyName;

    public int NativeSampleRate { get; }

    public IReadOnlyList<VoiceDescriptor> Voices { get; }

    /// <summary>
    /// 140 to 210 words per minute (0.8–1.2); the pipeline's time stretch, proportional to the speed, does the rest.
    /// espeak-ng changes its pauses (after a sentence, at a comma, around a short word) faster than its speech, so
    /// outside this range a text's length follows the rate only where it has few pauses. Measured on 18 corpus texts
    /// of 2–3 sentences, each sentence synthesized as the pipeline sends it, as the length at 175 words per minute
    /// over the length at the rate: 140, 0.76–0.80 (the rate says 0.8); 210, 1.20–1.26 (1.2); 250, 1.42–1.64 (1.43);
    /// 350, 1.98–3.23 (2; the most for "Hi. How are you? I am fine."); 80, 0.42–0.48 (0.46).
    /// </summary>
    public SpeedRange NativeSpeed { get; } = new(
        (double)RateProportionalMinimum / EspeakNative.RateNormal, (double)RateProportionalMaximum / EspeakNative.RateNormal);

    private const int RateProportionalMinimum = 140;
    private const int RateProportionalMaximum = 210;

    /// <summary>Loads libespeak-ng once per process; later calls return the same model.</summary>
    /// <exception cref="ModelLoadException">libespeak-ng or its data is not installed.</exception>
    public static async Task<EspeakModel> LoadAsync(ILogger logger, CancellationToken cancellationToken)
    {
        await LoadLock.WaitAsync(cancellationToken);
        try
        {
            if (s_instance is not null)
            {
                return s_instance;
            }

            var runtime = EspeakRuntime.Get(logger);
            await runtime.InvokeAsync(SetSynthCallback, cancellationToken);
            var languages = runtime.Languages;
            var voices = EspeakVoices.OpenAiAliases.Keys
                .Select(alias => EspeakVoices.Resolve(alias, null, languages)!)
                .Concat(languages.Primary.Order(StringComparer.Ordinal).Select(lang => new VoiceDescriptor(lang, lang, lang)))
                .ToArray();
            s_instance = new EspeakModel(runtime, voices);
            return s_instance;
        }
        finally
        {
            LoadLock.Release();
        }
    }

    public VoiceDescriptor? ResolveVoice(string voice, string? language) => EspeakVoices.Resolve(voice, language, _languages);

    public async IAsyncEnumerable<AudioChunk> SynthesizeAsync(
        SynthesisRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var output = Channel.CreateUnbounded<AudioChunk>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var rate = (int)Math.Round(EspeakNative.RateNormal * NativeSpeed.Clamp(request.Speed));
        var job = new SynthesisJob(
            request.Text,
            request.Voice.FamilyVoice,
            rate,
            request.TextContinues,
            new PcmBlocks(NativeSampleRate, NativeSampleRate / 4, output.Writer, request.FirstAudioAwaited),
            cancellationToken);
        _runtime.Post(() => RunJob(job));

        await foreach (var chunk in output.Reader.ReadAllAsync(cancellationToken))
        {
            yield return chunk;
        }
    }

    public void Dispose()
    {
        // The library and its thread live for the whole process (espeak-ng cannot be re-initialized safely).
    }

    private void RunJob(SynthesisJob job)
    {
        if (job.CancellationToken.IsCancellationRequested)
        {
            job.Audio.Complete(new OperationCanceledException(job.CancellationToken));
            return;
        }

        if (!_runtime.SelectVoice(job.VoiceSpec))
        {
            job.Audio.Complete(new InvalidOperationException($"espeak-ng has no voice '{job.VoiceSpec}'."));
            return;
        }

        job.Audio.Complete(Synthesize(job));

        // After the sentence's last audio is out, so that it does not wait for this.
        EspeakRuntime.ClearClausePauses(job.Text);
    }

    private static unsafe Exception? Synthesize(SynthesisJob job)
    {
        if (EspeakNative.SetParameter(EspeakNative.ParameterRate, job.Rate, 0) != EspeakNative.Ok)
        {
            return new InvalidOperationException($"espeak-ng refused rate {job.Rate}.");
        }

        var text = EspeakText.ToLibraryBytes(job.Text);
        s_current = job;
        try
        {
            fixed (byte* textPointer = text)
            {
                // Each sentence is a text of its own to espeak-ng, which leaves out the pause after a text's last
                // sentence unless asked; without it, the sentences of one request ran together (about 60 ms apart at
                // the normal rate, where espeak-ng pauses 300 ms between sentences and 150 ms at a comma).
                var flags = job.PauseAtEnd ? EspeakNative.CharsUtf8 | EspeakNative.EndPause : EspeakNative.CharsUtf8;
                var result = EspeakNative.Synth(
                    textPointer, (nuint)text.Length, 0, EspeakNative.PositionCharacter, 0, (uint)flags, null, 0);
                if (job.CancellationToken.IsCancellationRequested)
                {
                    return new OperationCanceledException(job.CancellationToken);
                }

                return result == EspeakNative.Ok ? null : new InvalidOperationException($"espeak_Synth failed with code {result}.");
            }
        }
        finally
        {
            s_current = null;
        }
    }

    /// <summary>Routes the library's audio to <see cref="OnSamples"/>; call on the espeak thread only.</summary>
    private static unsafe bool SetSynthCallback()
    {
        EspeakNative.SetSynthCallback(&OnSamples);
        return true;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe int OnSamples(short* samples, int count, nint events)
    {
        var job = s_current;
        if (job is null || job.CancellationToken.IsCancellationRequested)
        {
            return 1; // abort synthesis
        }

        if (samples is null || count <= 0)
        {
            return 0;
        }

        job.Audio.Append(new ReadOnlySpan<short>(samples, count));
        return 0;
    }

    private sealed record SynthesisJob(
        string Text,
        string VoiceSpec,
        int Rate,
        bool PauseAtEnd,
        PcmBlocks Audio,
        CancellationToken CancellationToken);
}
