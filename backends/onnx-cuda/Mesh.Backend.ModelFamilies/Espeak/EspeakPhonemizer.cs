using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Mesh.Backend.ModelFamilies.Espeak;

/// <summary>One clause as espeak-ng phonemized it, with the punctuation that ended it in the text.</summary>
/// <param name="Phonemes">IPA, words separated by spaces, without punctuation.</param>
/// <param name="Punctuation">The clause's closing mark (<c>.</c>, <c>,</c>, <c>?</c>, <c>…</c>, ...) or empty.</param>
/// <param name="EndsSentence">The mark ends a sentence (<c>.</c>, <c>!</c>, <c>?</c>).</param>
public sealed record PhonemeClause(string Phonemes, string Punctuation, bool EndsSentence);

/// <summary>
/// Text to IPA with libespeak-ng's <c>espeak_TextToPhonemes</c>, as Kokoro's and Piper's front ends do, on the thread
/// that owns the library.
/// </summary>
public sealed partial class EspeakPhonemizer
{
    private readonly EspeakRuntime _runtime;

    private EspeakPhonemizer(EspeakRuntime runtime)
    {
        _runtime = runtime;
    }

    /// <summary>The languages espeak-ng can phonemize.</summary>
    public IReadOnlySet<string> Languages => _runtime.Languages.Primary;

    /// <exception cref="ModelLoadException">libespeak-ng or its data is not installed.</exception>
    public static EspeakPhonemizer Get(ILogger logger) => new(EspeakRuntime.Get(logger));

    /// <summary>
    /// Whether espeak-ng can select <paramref name="voice"/> the way <see cref="PhonemizeAsync"/> will, so a model naming
    /// one it lacks fails its load, not its first request.
    /// </summary>
    public Task<bool> HasVoiceAsync(string voice, CancellationToken cancellationToken) =>
        _runtime.InvokeAsync(() => _runtime.SelectVoice(voice), cancellationToken);

    /// <summary>
    /// Phonemizes <paramref name="text"/> clause by clause with the espeak voice <paramref name="voice"/>; with a
    /// <paramref name="tie"/> character multi-letter phonemes come joined by it (<c>d^ʒ</c>), as misaki expects.
    /// </summary>
    public Task<IReadOnlyList<PhonemeClause>> PhonemizeAsync(string text, string voice, char? tie, CancellationToken cancellationToken)
    {
        var mode = EspeakNative.PhonemesIpa | (tie is { } t ? EspeakNative.PhonemesTie | (t << 8) : 0);
        return _runtime.InvokeAsync<IReadOnlyList<PhonemeClause>>(() => Phonemize(text, voice, mode), cancellationToken);
    }

    private List<PhonemeClause> Phonemize(string text, string voice, int mode)
    {
        // Phonemizing without a selected voice crashes the library, so a voice that cannot be set stops here.
        if (!_runtime.SelectVoice(voice))
        {
            throw new InvalidOperationException($"espeak-ng has no voice or language '{voice}'.");
        }

        var clauses = new List<PhonemeClause>();
        foreach (var clause in EspeakRuntime.TextToPhonemes(text, mode))
        {
            var (mark, endsSentence) = ClauseText.Punctuation(clause.Text, clause.EndsText);
            // Language-switch flags such as (en) are not phonemes (Piper removes them the same way).
            var phonemes = LanguageSwitch().Replace(clause.Phonemes, string.Empty).Trim();
            if (phonemes.Length > 0 || mark.Length > 0)
            {
                clauses.Add(new PhonemeClause(phonemes, mark, endsSentence));
            }
        }

        return clauses;
    }

    [GeneratedRegex(@"\([^)]*\)")]
    private static partial Regex LanguageSwitch();
}

/// <summary>Clause punctuation and sentence grouping for espeak-ng's clause-by-clause phonemes.</summary>
public static class ClauseText
{
    private const string ClosingMarks = "\"'”’)]»";

    /// <summary>
    /// The punctuation that ended a clause, from the text espeak-ng consumed for it. espeak-ng 1.51 has no
    /// <c>TextToPhonemesWithTerminator</c> and leaves its pointer one character into the next clause, so that last
    /// character is not part of this clause unless the text ended.
    /// </summary>
    public static (string Mark, bool EndsSentence) Punctuation(string consumed, bool atEnd)
    {
        var text = consumed.AsSpan();
        if (!atEnd && text.Length > 0)
        {
            text = text[..^(char.IsLowSurrogate(text[^1]) && text.Length > 1 ? 2 : 1)];
        }

        text = text.TrimEnd().TrimEnd(ClosingMarks).TrimEnd();
        if (text.EndsWith("...", StringComparison.Ordinal) || text.EndsWith("…", StringComparison.Ordinal))
        {
            return ("…", false);
        }

        if (text.IsEmpty)
        {
            return (string.Empty, false);
        }

        return text[^1] switch
        {
            '.' => (".", true),
            '!' => ("!", true),
            '?' => ("?", true),
            ',' => (",", false),
            ';' => (";", false),
            ':' => (":", false),
            '—' or '–' => ("—", false),
            _ => (string.Empty, false),
        };
    }

    /// <summary>
    /// Joins clauses into sentences the way phonemizer (preserve_punctuation) and Piper write them: each clause's
    /// phonemes followed by its mark, clauses separated by a space; a sentence ends at <c>. ! ?</c> and at the end.
    /// </summary>
    public static IReadOnlyList<string> Sentences(IEnumerable<PhonemeClause> clauses)
    {
        var sentences = new List<string>();
        var current = new StringBuilder();
        foreach (var clause in clauses)
        {
            if (current.Length > 0 && clause.Phonemes.Length > 0)
            {
                current.Append(' ');
            }

            current.Append(clause.Phonemes).Append(clause.Punctuation);
            if (clause.EndsSentence)
            {
                Flush();
            }
        }

        Flush();
        return sentences;

        void Flush()
        {
            var sentence = current.ToString().Trim();
            if (sentence.Length > 0)
            {
                sentences.Add(sentence);
            }

            current.Clear();
        }
    }
}
