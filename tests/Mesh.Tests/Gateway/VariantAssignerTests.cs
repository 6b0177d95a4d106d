using Mesh.Gateway.Routing;

namespace Mesh.Tests.Gateway;

public sealed class VariantAssignerTests
{
    [Fact]
    public void Over_2000_clients_the_split_matches_the_weights_within_three_standard_deviations()
    {
        var assigner = new VariantAssigner(new Dictionary<string, double> { ["int8-graphs"] = 90, ["fp32"] = 10 });
        const int clients = 2000;

        var fp32 = Enumerable.Range(0, clients).Count(i => assigner.Assign($"client-{i}") == "fp32");

        var expected = clients * 0.1;
        var sigma = Math.Sqrt(clients * 0.1 * 0.9);
        Assert.InRange(fp32, expected - 3 * sigma, expected + 3 * sigma);
    }

    [Fact]
    public void A_weight_names_its_variant_in_any_case_and_an_exact_match_wins()
    {
        var available = new HashSet<string>(StringComparer.Ordinal) { "stable", "candidate" };

        var fromEnvironment = VariantAssigner.EffectiveWeights(available, new Dictionary<string, double> { ["Stable"] = 90, ["CANDIDATE"] = 10 });
        var both = VariantAssigner.EffectiveWeights(available, new Dictionary<string, double> { ["Candidate"] = 50, ["candidate"] = 0, ["stable"] = 1 });

        Assert.Equal(new Dictionary<string, double> { ["stable"] = 90, ["candidate"] = 10 }, fromEnvironment);
        Assert.Equal(new Dictionary<string, double> { ["stable"] = 1 }, both);
    }

    [Fact]
    public void A_client_always_gets_the_same_variant()
    {
        var assigner = new VariantAssigner(new Dictionary<string, double> { ["a"] = 50, ["b"] = 50 });

        Assert.All(Enumerable.Range(0, 200), i =>
        {
            var id = $"key-{i}";
            Assert.Equal(assigner.Assign(id), new VariantAssigner(new Dictionary<string, double> { ["b"] = 50, ["a"] = 50 }).Assign(id));
        });
    }

    [Fact]
    public void A_zero_weight_variant_gets_no_traffic()
    {
        var assigner = new VariantAssigner(new Dictionary<string, double> { ["live"] = 1, ["dark"] = 0 });

        Assert.DoesNotContain("dark", Enumerable.Range(0, 500).Select(i => assigner.Assign($"c{i}")));
    }

    [Theory]
    [InlineData("a")]
    [InlineData("b")]
    [InlineData("c")]
    public void Removing_a_variant_moves_only_its_own_clients(string removed)
    {
        Dictionary<string, double> weights = new() { ["a"] = 50, ["b"] = 30, ["c"] = 20 };
        var before = Assignments(weights);
        weights.Remove(removed);
        var after = Assignments(weights);

        Assert.Contains(removed, before.Values);
        Assert.All(before.Keys.Where(client => before[client] != removed), client => Assert.Equal(before[client], after[client]));
    }

    [Theory]
    [InlineData("a")]
    [InlineData("b")]
    [InlineData("c")]
    public void Adding_a_variant_or_raising_its_weight_only_draws_clients_to_it(string added)
    {
        Dictionary<string, double> weights = new() { ["a"] = 50, ["b"] = 50, ["c"] = 50 };
        weights.Remove(added);
        var without = Assignments(weights);
        weights[added] = 20;
        var with = Assignments(weights);
        weights[added] = 60;
        var raised = Assignments(weights);

        Assert.All(without.Keys.Where(client => with[client] != added), client => Assert.Equal(without[client], with[client]));
        Assert.All(with.Keys.Where(client => raised[client] != added), client => Assert.Equal(with[client], raised[client]));
        Assert.True(raised.Values.Count(v => v == added) > with.Values.Count(v => v == added));
    }

    private static Dictionary<string, string> Assignments(Dictionary<string, double> weights)
    {
        var assigner = new VariantAssigner(weights);
        return Enumerable.Range(0, 2000).Select(i => $"client-{i}").ToDictionary(id => id, assigner.Assign);
    }
}
