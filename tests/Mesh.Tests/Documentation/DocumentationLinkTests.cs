using Mesh.Tests.Integration;

namespace Mesh.Tests.Documentation;

/// <summary>Every relative link of the README and <c>docs/</c> leads to a file of the repository and, with an anchor, to one of its headings.</summary>
public sealed class DocumentationLinkTests
{
    public static TheoryData<string> Pages() =>
        ["README.md", .. Directory.GetFiles(Path.Combine(RepoPaths.Root, "docs"), "*.md").Select(p => Path.GetRelativePath(RepoPaths.Root, p)).Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(Pages))]
    public void Relative_links_lead_to_a_file_and_heading_of_the_repository(string page)
    {
        var file = MarkdownFile.Load(Path.Combine(RepoPaths.Root, page));
        var broken = file.Links.Where(link => Problem(file, link) is not null).Select(link => $"{link}: {Problem(file, link)}").ToArray();

        Assert.True(broken.Length == 0, $"{page} has broken links:\n{string.Join('\n', broken)}");
    }

    [Fact]
    public void Anchors_are_those_github_gives_headings()
    {
        Assert.Equal("gateway-and-backend-select-by-job", MarkdownFile.AnchorOf("Gateway and backend: select by `job`"));
        Assert.Equal("load-mesh-bench-quick", MarkdownFile.AnchorOf("Load: `./mesh bench quick`"));
        Assert.Equal("workers-streams-buffers", MarkdownFile.AnchorOf("Workers, streams, buffers"));
        Assert.Equal("meshttfabudgetburnfast", MarkdownFile.AnchorOf("MeshTtfaBudgetBurnFast"));
    }

    private static string? Problem(MarkdownFile from, string link)
    {
        var hash = link.IndexOf('#', StringComparison.Ordinal);
        var target = hash < 0 ? link : link[..hash];
        var anchor = hash < 0 ? null : link[(hash + 1)..];
        var path = target.Length == 0 ? from.Path : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(from.Path)!, Uri.UnescapeDataString(target)));

        if (!File.Exists(path) && !Directory.Exists(path))
        {
            return "no such file";
        }

        if (anchor is null)
        {
            return null;
        }

        if (!path.EndsWith(".md", StringComparison.Ordinal))
        {
            return "an anchor into a file that is not Markdown";
        }

        return MarkdownFile.Load(path).Anchors.Contains(anchor) ? null : $"no heading with the anchor #{anchor}";
    }
}
