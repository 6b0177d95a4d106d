using Mesh.Gateway;
using Mesh.Gateway.Routing;

namespace Mesh.Tests.Gateway;

/// <summary>The gateway's per-backend series move to the name a backend reports, once, and never onto another's name.</summary>
public sealed class BackendLabelsTests
{
    // The series are process-wide: each test uses destination ids and names of its own.
    private static string Unique(string name) => $"{name}-{Guid.NewGuid():N}";

    [Fact]
    public void Learning_a_name_moves_the_series_with_their_values()
    {
        var labels = new BackendLabels();
        var (id, name) = (Unique("pool/10.0.0.1"), Unique("pod-a"));
        GatewayMetrics.BackendHealthy.WithLabels(id, "shared:a").Set(1);
        GatewayMetrics.BackendLoad.WithLabels(id).Set(7);
        GatewayMetrics.Ejections.WithLabels(id, "shared:a").Inc(2);

        labels.Learn(id, name);

        Assert.Equal(name, labels.Of(id));
        Assert.Equal(1, GatewayMetrics.BackendHealthy.WithLabels(name, "shared:a").Value);
        Assert.Equal(7, GatewayMetrics.BackendLoad.WithLabels(name).Value);
        Assert.Equal(2, GatewayMetrics.Ejections.WithLabels(name, "shared:a").Value);
        Assert.DoesNotContain(GatewayMetrics.BackendHealthy.GetAllLabelValues(), l => l[0] == id);
        Assert.DoesNotContain(GatewayMetrics.BackendLoad.GetAllLabelValues(), l => l[0] == id);
        Assert.DoesNotContain(GatewayMetrics.Ejections.GetAllLabelValues(), l => l[0] == id);
    }

    [Fact]
    public void A_name_another_backend_has_is_not_taken_until_that_one_is_gone()
    {
        var labels = new BackendLabels();
        var (first, second, name) = (Unique("pool/10.0.0.1"), Unique("pool/10.0.0.2"), Unique("backend"));
        labels.Learn(first, name);

        labels.Learn(second, name);
        Assert.Equal(second, labels.Of(second));

        labels.Forget(first);
        Assert.Equal(first, labels.Of(first));
        labels.Learn(second, name);
        Assert.Equal(name, labels.Of(second));
    }

    [Fact]
    public void A_backend_already_labelled_with_its_name_keeps_it_from_others()
    {
        var labels = new BackendLabels();
        var (entry, discovered) = (Unique("b0"), Unique("pool/10.0.0.3"));
        labels.Learn(entry, entry);

        labels.Learn(discovered, entry);

        Assert.Equal(discovered, labels.Of(discovered));
    }

    [Fact]
    public void No_reported_name_keeps_the_destination_id()
    {
        var labels = new BackendLabels();
        var id = Unique("b0");

        labels.Learn(id, null);
        labels.Learn(id, "");

        Assert.Equal(id, labels.Of(id));
    }
}

/// <summary>The relabelling against the load reports that keep coming on other threads (proxied responses).</summary>
public sealed class BackendLabelsRaceTests
{
    [Fact]
    public async Task A_load_reported_while_the_name_is_learned_leaves_no_series_under_the_destination_id()
    {
        for (var attempt = 0; attempt < 300; attempt++)
        {
            var labels = new BackendLabels();
            var load = new Mesh.Gateway.Balancing.BackendLoad(labels);
            var (id, name) = ($"pool/10.0.0.9-{Guid.NewGuid():N}", $"pod-{Guid.NewGuid():N}");
            load.Track(id);
            load.Report(id, "1");
            using var stop = new CancellationTokenSource();
            var reporting = Task.Run(() =>
            {
                while (!stop.IsCancellationRequested)
                {
                    load.Report(id, "2");
                }
            });
            await Task.Delay(1);
            labels.Learn(id, name);
            await Task.Delay(1);
            await stop.CancelAsync();
            await reporting;

            Assert.DoesNotContain(GatewayMetrics.BackendLoad.GetAllLabelValues(), l => l[0] == id);
            load.Forget(id);
        }
    }
}
