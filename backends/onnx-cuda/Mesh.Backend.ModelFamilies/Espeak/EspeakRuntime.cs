using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Mesh.Backend.ModelFamilies.Espeak;

/// <summary>
/// The one owner of libespeak-ng in the process. The library keeps global state (current voice, synthesis callback,
/// the static phoneme buffer), so it is initialized once and every call after that runs on one dedicated thread:
/// the espeak voice's synthesis and the phonemization of the ONNX families alike.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Lives as long as the process: the library cannot be re-initialized.")]
internal sealed unsafe partial class EspeakRuntime
{
    private static readonly Lock LoadLock = new();
    private static EspeakRuntime? s_instance;

    private readonly BlockingCollection<Action> _work = new();

    // Language → the voice file that speaks it (en-gb → gmw/en).
    private readonly FrozenDictionary<string, string> _voiceFiles;

    // The voice the library holds; touched only on the espeak thread.
    private string? _selectedVoice;

    private EspeakRuntime(int sampleRate, List<InstalledEspeakVoice> voices)
    {
        SampleRate = sampleRate;

        // Of the voices that share a primary language, espeak-ng lists the one it prefers first (yue before yue-Latn-jyutping).
        var voiceFiles = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var voice in voices)
        {
            voiceFiles.TryAdd(voice.Languages[0].Tag, voice.File);
        }

        _voiceFiles = voiceFiles.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        Languages = new EspeakLanguages(voices);
        var thread = new Thread(Run) { IsBackground = true, Name = "espeak-worker" };
        thread.Start();
    }

    /// <summary>The rate of espeak's own speech output.</summary>
    public int SampleRate { get; }

    /// <summary>The languages of the installed espeak voices, each by its primary language and every tag it names.</summary>
    public EspeakLanguages Languages { get; }

    /// <summary>Initializes libespeak-ng once per process; later calls return the same runtime.</summary>
    /// <exception cref="ModelLoadException">The library or its data is not installed.</exception>
    public static EspeakRuntime Get(ILogger logger)
    {
        lock (LoadLock)
        {
            if (s_instance is not null)
            {
                return s_instance;
            }

            int sampleRate;
            try
            {
                // Before the worker thread exists nothing else can touch the library, so this thread may initialize it.
                sampleRate = EspeakNative.Initialize(EspeakNative.AudioOutputSynchronous, 0, null, EspeakNative.InitializeDontExit);
            }
            catch (DllNotFoundException ex)
            {
                throw new ModelLoadException(
                    "libespeak-ng.so.1 is not installed: run 'apt-get install -y libespeak-ng1 espeak-ng-data'.", ex);
            }

            if (sampleRate <= 0)
            {
                throw new ModelLoadException(
                    "espeak-ng could not find its data: run 'apt-get install -y espeak-ng-data' (or set ESPEAK_DATA_PATH).");
            }

            s_instance = new EspeakRuntime(sampleRate, ListVoices());
            LogLoaded(logger, sampleRate, s_instance.Languages.Primary.Count);
            return s_instance;
        }
    }

    /// <summary>Queues <paramref name="work"/> for the espeak thread; it must not throw.</summary>
    public void Post(Action work) => _work.Add(work);

    /// <summary>Runs <paramref name="work"/> on the espeak thread and returns its result.</summary>
    public Task<T> InvokeAsync<T>(Func<T> work, CancellationToken cancellationToken)
    {
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add(
            () =>
        {
            if (cancellationToken.IsCancellationRequested)
            {
                completion.TrySetCanceled(cancellationToken);
                return;
            }

            try
            {
                completion.TrySetResult(work());
            }
            catch (Exception ex)
            {
                completion.TrySetException(ex);
            }
        },
            CancellationToken.None);
        return completion.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Makes <paramref name="voice"/> (a voice name such as <c>en-us+f1</c>, else a language) the library's voice, unless
    /// it already is: selecting one re-reads its files and rebuilds its dictionary, some 150 µs a time, and a voice
    /// stays selected across synthesis and phonemization. Call on the espeak thread only.
    /// </summary>
    /// <returns>Whether the voice is selected; espeak-ng 1.51 has no voice named en-gb or fr-fr, only those languages.</returns>
    public bool SelectVoice(string voice)
    {
        if (voice == _selectedVoice)
        {
            return true;
        }

        // A failed attempt may have changed the library's state half-way, so nothing counts as selected until one succeeds.
        _selectedVoice = null;

        // espeak-ng applies a +variant only to a voice it finds by name or file; a language such as en-gb or fr-fr is
        // neither, and selecting it by language drops the variant, so it goes by the file of the voice that speaks it.
        var plus = voice.IndexOf('+', StringComparison.Ordinal);
        var language = plus < 0 ? voice : voice[..plus];
        var name = _voiceFiles.TryGetValue(language, out var file) ? file + voice[language.Length..] : voice;
        if (EspeakNative.SetVoiceByName(name) != EspeakNative.Ok && !SelectLanguage(voice))
        {
            return false;
        }

        _selectedVoice = voice;
        return true;
    }

    /// <summary>
    /// Phonemizes <paramref name="text"/> clause by clause with the selected voice, in espeak-ng's
    /// <paramref name="phonemeMode"/>. Call on the espeak thread only.
    /// </summary>
    public static List<TranslatedClause> TextToPhonemes(string text, int phonemeMode)
    {
        var clauses = new List<TranslatedClause>();
        var bytes = EspeakText.ToLibraryBytes(text);
        fixed (byte* start = bytes)
        {
            var end = start + bytes.Length - 1;
            var position = start;
            while (position is not null && position < end)
            {
                var before = position;
                var phonemes = Marshal.PtrToStringUTF8((nint)EspeakNative.TextToPhonemes(&position, EspeakNative.CharsUtf8, phonemeMode));
                var endsText = position is null;
                var consumed = Encoding.UTF8.GetString(before, (int)((endsText ? end : position) - before));
                clauses.Add(new TranslatedClause(phonemes ?? string.Empty, consumed, endsText));
                if (!endsText && position <= before)
                {
                    break; // no progress: never spin on odd input
                }
            }
        }

        return clauses;
    }

    /// <summary>
    /// Clears the pauses synthesizing <paramref name="text"/> left in espeak-ng's phoneme list, so that the next synthesis
    /// starts from the same list whatever came before it. espeak-ng 1.51 never resets the pause-before of the two pauses
    /// that end a clause (later releases do), so each kept the one a stop or fricative of an earlier, longer clause had
    /// at that position: after the t of "tilde" (a spelled-out "ñ") or of "two", every later "Hi." ended 39 to 49 ms
    /// later until the process restarted. Only synthesis sets pause-befores; phonemizing the same text again rewrites
    /// every position its clauses used without one. Call on the espeak thread, with the voice that spoke the text.
    /// </summary>
    public static void ClearClausePauses(string text) => _ = TextToPhonemes(text, 0);

    private static bool SelectLanguage(string language)
    {
        var bytes = Encoding.UTF8.GetBytes(language + "\0");
        fixed (byte* languagePointer = bytes)
        {
            var properties = new EspeakNative.VoiceEntry { Languages = languagePointer };
            return EspeakNative.SetVoiceByProperties(&properties) == EspeakNative.Ok;
        }
    }

    private void Run()
    {
        foreach (var work in _work.GetConsumingEnumerable())
        {
            work();
        }
    }

    /// <summary>Every installed voice with a language, in espeak-ng's order: by primary language, then priority, then name.</summary>
    private static List<InstalledEspeakVoice> ListVoices()
    {
        var voices = new List<InstalledEspeakVoice>();
        for (var entry = EspeakNative.ListVoices(0); *entry is not null; entry++)
        {
            var file = Marshal.PtrToStringUTF8((nint)(*entry)->Identifier);
            var languages = LanguageLines((*entry)->Languages);
            if (languages.Count > 0 && !string.IsNullOrEmpty(file))
            {
                voices.Add(new InstalledEspeakVoice(Marshal.PtrToStringUTF8((nint)(*entry)->Name) ?? file, file, languages));
            }
        }

        return voices;
    }

    /// <summary>A voice's language lines from espeak_VOICE's <c>languages</c>: each a priority byte and a NUL-terminated tag.</summary>
    private static List<EspeakLanguageLine> LanguageLines(byte* list)
    {
        var lines = new List<EspeakLanguageLine>();
        for (var line = list; line is not null && *line != 0;)
        {
            var tag = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(line + 1);
            if (!tag.IsEmpty)
            {
                lines.Add(new EspeakLanguageLine(Encoding.UTF8.GetString(tag), *line));
            }

            line += tag.Length + 2;
        }

        return lines;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "espeak-ng loaded: {SampleRate} Hz, {Languages} languages")]
    private static partial void LogLoaded(ILogger logger, int sampleRate, int languages);
}

/// <summary>One clause as <c>espeak_TextToPhonemes</c> phonemized it.</summary>
/// <param name="Phonemes">The clause's phonemes, in the mode asked for.</param>
/// <param name="Text">
/// The text espeak-ng consumed for the clause: espeak-ng 1.51 leaves its pointer one character into the next clause.
/// </param>
/// <param name="EndsText">The clause is the text's last.</param>
internal readonly record struct TranslatedClause(string Phonemes, string Text, bool EndsText);
