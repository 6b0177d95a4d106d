using System.Text;
using System.Text.RegularExpressions;

namespace Mesh.Tests.Documentation;

/// <summary>A Markdown file of the repository: its headings' anchors, as GitHub makes them, and its relative links.</summary>
public sealed partial class MarkdownFile
{
    private MarkdownFile(string path, IReadOnlyList<string> headings, IReadOnlyList<string> links)
    {
        Path = path;
        Headings = headings;
        Anchors = AnchorsOf(headings);
        Links = links;
    }

    public string Path { get; }

    /// <summary>The text of every heading, in order.</summary>
    public IReadOnlyList<string> Headings { get; }

    public IReadOnlySet<string> Anchors { get; }

    /// <summary>Link targets that are not absolute URLs (<c>docs/x.md#y</c>, <c>#y</c>, <c>../README.md</c>), outside code.</summary>
    public IReadOnlyList<string> Links { get; }

    public static MarkdownFile Load(string path)
    {
        var headings = new List<string>();
        var links = new List<string>();
        var inFence = false;
        foreach (var line in File.ReadLines(path))
        {
            if (line.TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                inFence = !inFence;
                continue;
            }

            if (inFence)
            {
                continue;
            }

            if (Heading().Match(line) is { Success: true } heading)
            {
                headings.Add(heading.Groups[1].Value);
            }

            var prose = CodeSpan().Replace(line, "");
            links.AddRange(Link().Matches(prose).Select(m => m.Groups[1].Value).Where(t => !AbsoluteUrl().IsMatch(t)));
        }

        return new MarkdownFile(path, headings, links);
    }

    /// <summary>
    /// GitHub's anchor of a heading: lower case, code marks and punctuation dropped (letters, digits, <c>-</c> and
    /// <c>_</c> kept), spaces turned into <c>-</c>.
    /// </summary>
    public static string AnchorOf(string heading)
    {
        var anchor = new StringBuilder();
        foreach (var c in heading.ToLowerInvariant())
        {
            if (char.IsLetterOrDigit(c) || c is '-' or '_')
            {
                anchor.Append(c);
            }
            else if (c == ' ')
            {
                anchor.Append('-');
            }
        }

        return anchor.ToString();
    }

    // A heading whose anchor was taken already gets -1, -2, ... after it.
    private static HashSet<string> AnchorsOf(IEnumerable<string> headings)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        foreach (var anchor in headings.Select(AnchorOf))
        {
            var unique = anchor;
            for (var n = 1; !anchors.Add(unique); n++)
            {
                unique = $"{anchor}-{n}";
            }
        }

        return anchors;
    }

    [GeneratedRegex(@"^#{1,6}\s+(.+?)\s*#*\s*$")]
    private static partial Regex Heading();

    [GeneratedRegex(@"`[^`]*`")]
    private static partial Regex CodeSpan();

    [GeneratedRegex(@"\]\(([^)\s]+)(?:\s+""[^""]*"")?\)")]
    private static partial Regex Link();

    [GeneratedRegex(@"^[a-z][a-z0-9+.-]*:", RegexOptions.IgnoreCase)]
    private static partial Regex AbsoluteUrl();
}
