using System.Text.RegularExpressions;
using Mesh.Tests.Integration;
using YamlDotNet.RepresentationModel;

namespace Mesh.Tests.Observability;

/// <param name="Name">The recorded series or the alert's name.</param>
/// <param name="Annotations">An alert's annotations (<c>summary</c>, <c>runbook_url</c>, ...); none for a recording rule.</param>
public sealed record PrometheusRule(string File, string Name, bool IsAlert, string Expression, IReadOnlyDictionary<string, string> Annotations);

/// <summary>The recording and alerting rules <c>ops/prometheus/prometheus.yml</c> loads, and the series their expressions read.</summary>
public static partial class RuleFiles
{
    public static IReadOnlyList<PrometheusRule> Load()
    {
        var config = LoadYaml(Path.Combine(RepoPaths.Root, "ops/prometheus/prometheus.yml"));
        var files = ((YamlSequenceNode)config["rule_files"]).Children.Select(f => ((YamlScalarNode)f).Value!);
        return [.. files.SelectMany(file =>
            ((YamlSequenceNode)LoadYaml(Path.Combine(RepoPaths.Root, "ops/prometheus", file))["groups"]).Children
                .SelectMany(group => ((YamlSequenceNode)((YamlMappingNode)group)["rules"]).Children.Cast<YamlMappingNode>())
                .Select(rule => rule.Children.TryGetValue(new YamlScalarNode("alert"), out var alert)
                    ? new PrometheusRule(file, ((YamlScalarNode)alert).Value!, true, ((YamlScalarNode)rule["expr"]).Value!, AnnotationsOf(rule))
                    : new PrometheusRule(file, ((YamlScalarNode)rule["record"]).Value!, false, ((YamlScalarNode)rule["expr"]).Value!, AnnotationsOf(rule))))];
    }

    private static Dictionary<string, string> AnnotationsOf(YamlMappingNode rule) =>
        rule.Children.TryGetValue(new YamlScalarNode("annotations"), out var annotations)
            ? ((YamlMappingNode)annotations).Children.ToDictionary(a => ((YamlScalarNode)a.Key).Value!, a => ((YamlScalarNode)a.Value).Value!, StringComparer.Ordinal)
            : [];

    /// <summary>
    /// Every series selector of an expression (<c>name{matchers}</c>): <c>mesh_*</c> series, recording rules
    /// (<c>level:metric:operation</c>) and <c>up</c>. Function names, label names and keywords are not selectors.
    /// </summary>
    public static IReadOnlyList<string> Selectors(string expression) =>
        [.. Selector().Matches(expression).Select(m => m.Value.Trim()).Distinct(StringComparer.Ordinal)];

    /// <summary>The metric name of a selector (before its matchers).</summary>
    public static string NameOf(string selector) => selector.Split('{')[0].Trim();

    /// <summary>The exported series a name stands for: histogram parts map to their family.</summary>
    public static string FamilyOf(string name) => HistogramSuffix().Replace(name, "");

    private static YamlMappingNode LoadYaml(string path)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(path);
        stream.Load(reader);
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }

    // A name not preceded by a name character, not followed by "(" (a function), optionally with its matchers.
    [GeneratedRegex(@"(?<![\w:])(?:[a-z_]+:mesh_[a-z0-9_]+:[a-z0-9_]+|mesh_[a-z0-9_]+|up)(?![\w:(])(?:\s*\{[^}]*\})?")]
    private static partial Regex Selector();

    [GeneratedRegex("_(bucket|sum|count)$")]
    private static partial Regex HistogramSuffix();
}
