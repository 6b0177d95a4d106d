using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using Mesh.Tests.Integration;
using Xunit.Sdk;

namespace Mesh.Tests.Reliability;

/// <summary>The figures docs/reliability.md gives for the bad-input catalogue are those of <see cref="BadInputCatalogueTests"/>.</summary>
public sealed partial class BadInputCatalogueFiguresTests
{
    [Fact]
    public void The_documented_case_counts_are_the_test_cases_of_the_catalogue()
    {
        var text = File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "reliability.md"));
        var total = TotalCases().Match(text);
        Assert.True(total.Success, "docs/reliability.md states no '**N cases**' for the catalogue");
        var rows = text[(total.Index + total.Length)..]
            .Split('\n')
            .SkipWhile(line => !line.StartsWith('|'))
            .Skip(2) // the table's header and its separator
            .TakeWhile(line => line.StartsWith('|'))
            .Select(line => int.Parse(line.Split('|')[2], CultureInfo.InvariantCulture))
            .ToArray();

        var cases = TestCases(typeof(BadInputCatalogueTests));
        Assert.Equal(cases, int.Parse(total.Groups[1].Value, CultureInfo.InvariantCulture));
        Assert.Equal(cases, rows.Sum());
    }

    /// <summary>A fact counts once, a theory once for each row of its data.</summary>
    private static int TestCases(Type testClass) =>
        testClass.GetMethods()
            .Where(method => method.GetCustomAttribute<FactAttribute>() is not null)
            .Sum(method => method.GetCustomAttribute<TheoryAttribute>() is null
                ? 1
                : method.GetCustomAttributes<DataAttribute>().Sum(data => data.GetData(method).Count()));

    [GeneratedRegex(@"\*\*(\d+) cases\*\*")]
    private static partial Regex TotalCases();
}
