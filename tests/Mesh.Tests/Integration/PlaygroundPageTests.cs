using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Mesh.Contracts;
using Mesh.Gateway.Auth;

namespace Mesh.Tests.Integration;

/// <summary>The page's HTTP side: served at <c>/</c> beside the API, which keeps its 404 envelope and its keys.</summary>
[Collection(MeshFleetDefinition.Name)]
public sealed class PlaygroundPageTests(MeshFleet fleet)
{
    [Fact]
    public async Task Root_serves_the_page_as_html_with_its_script_and_styles()
    {
        using var client = fleet.CreateGatewayClient();

        using var page = await client.GetAsync(new Uri("/", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<textarea id=\"input\"", html, StringComparison.Ordinal);
        Assert.Contains("/ 4,096 characters", html, StringComparison.Ordinal); // the limit the API holds the text to
        Assert.Contains("script-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);

        using var script = await client.GetAsync(new Uri("/playground.js", UriKind.Relative));
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        using var styles = await client.GetAsync(new Uri("/playground.css", UriKind.Relative));
        Assert.Equal("text/css", styles.Content.Headers.ContentType?.MediaType);

        // Revalidation by tag: an unchanged page costs a 304.
        using var again = new HttpRequestMessage(HttpMethod.Get, new Uri("/", UriKind.Relative));
        again.Headers.IfNoneMatch.Add(page.Headers.ETag!);
        using var notModified = await client.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
    }

    [Theory]
    [InlineData("/v1/nothing-here")]
    [InlineData("/v1/audio/nothing-here")]
    [InlineData("/v1/models.json")]
    [InlineData("/index.html")]
    public async Task Unknown_paths_beside_the_page_still_get_the_404_envelope(string path)
    {
        using var client = fleet.CreateGatewayClient();

        using var response = await client.GetAsync(new Uri(path, UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var envelope = await response.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope);
        Assert.Equal("unknown_url", envelope!.Error.Code);
    }

    [Fact]
    public async Task Variants_endpoint_lists_the_fleets_variant_with_its_ready_backends()
    {
        using var client = fleet.CreateGatewayClient();

        var variants = await client.GetFromJsonAsync(new Uri("/v1/mesh/variants", UriKind.Relative), ContractsJsonContext.Default.VariantList);
        var only = Assert.Single(variants!.Data);
        Assert.Equal("test", only.Id);
        Assert.Equal(1.0, only.Weight);
        Assert.Equal(["shared"], only.Pools);
        Assert.Equal(2, only.ReadyBackends);
    }

    [Fact]
    public async Task With_keys_the_page_stays_open_and_the_variants_need_a_key()
    {
        const string Key = "playground-test-key";
        // Two variants weighted 3:1 whose backends are not running: configuration alone answers.
        var port = LoopbackPorts.Unused();
        await using var gateway = await HostProcess.StartAsync(
            RepoPaths.GatewayDll,
            [
                .. MeshFleet.FleetArgs(0, "a", new Uri($"http://127.0.0.1:{port}/"), "realtime", "int8-graphs"),
                .. MeshFleet.FleetArgs(1, "b", new Uri($"http://127.0.0.1:{port}/"), "batch", "int8-graphs"),
                .. MeshFleet.FleetArgs(2, "c", new Uri($"http://127.0.0.1:{port}/"), "shared", "fp32"),
                "--Mesh:Variants:Weights:int8-graphs=75",
                "--Mesh:Variants:Weights:fp32=25",
                "--Mesh:Auth:Keys:0:Name=page",
                $"--Mesh:Auth:Keys:0:Sha256={ApiKeyStore.HashOf(Key)}",
            ]);
        using var client = new HttpClient { BaseAddress = gateway.Url };

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/", UriKind.Relative))).StatusCode);
        using var anonymous = await client.GetAsync(new Uri("/v1/mesh/variants", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);

        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        var variants = await client.GetFromJsonAsync(new Uri("/v1/mesh/variants", UriKind.Relative), ContractsJsonContext.Default.VariantList);
        Assert.Equal(["fp32", "int8-graphs"], variants!.Data.Select(v => v.Id));
        Assert.Equal([0.25, 0.75], variants.Data.Select(v => v.Weight));
        Assert.Equal(["batch", "realtime"], variants.Data[1].Pools);
        Assert.All(variants.Data, v => Assert.Equal(0, v.ReadyBackends));
    }
}
