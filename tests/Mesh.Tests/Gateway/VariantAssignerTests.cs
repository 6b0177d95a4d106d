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
}
