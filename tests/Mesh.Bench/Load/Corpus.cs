namespace Mesh.Bench.Load;

/// <summary>
/// The texts requests carry, from the repository's corpus: single sentences and short paragraphs for the traffic mix,
/// and for the length comparison one paragraph of three sentences and the same paragraph twelve times (36 sentences),
/// so both start with the same first sentence and only the length differs.
/// </summary>
public sealed class Corpus
{
    private Corpus(IReadOnlyList<string> sentences, IReadOnlyList<string> paragraphs)
    {
        Sentences = sentences;
        Paragraphs = paragraphs;
        ThreeSentences = paragraphs[0];
        ThirtySixSentences = string.Join(' ', Enumerable.Repeat(paragraphs[0], 12));
    }

    public IReadOnlyList<string> Sentences { get; }

    public IReadOnlyList<string> Paragraphs { get; }

    public string ThreeSentences { get; }

    public string ThirtySixSentences { get; }

    /// <summary>
    /// Reads <c>sentences-en.txt</c> and <c>paragraphs-en.txt</c> from <paramref name="directory"/>; null with
    /// <paramref name="error"/> when either is missing, unreadable or empty.
    /// </summary>
    public static Corpus? Read(string directory, out string? error)
    {
        error = null;
        string[] sentences, paragraphs;
        try
        {
            sentences = ReadLines(Path.Combine(directory, "sentences-en.txt"));
            paragraphs = ReadLines(Path.Combine(directory, "paragraphs-en.txt"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error = $"corpus {directory}: {ex.Message}";
            return null;
        }

        if (sentences.Length == 0 || paragraphs.Length == 0)
        {
            error = $"corpus {directory}: no sentences or no paragraphs";
            return null;
        }

        return new Corpus(sentences, paragraphs);
    }

    /// <summary>A sentence or a paragraph, half and half: short texts weigh TTFA, paragraphs weigh streaming.</summary>
    public string Pick(Random random)
    {
        var pool = random.Next(2) == 0 ? Sentences : Paragraphs;
        return pool[random.Next(pool.Count)];
    }

    private static string[] ReadLines(string path) =>
        [.. File.ReadAllLines(path).Select(line => line.Trim()).Where(line => line.Length > 0)];
}
