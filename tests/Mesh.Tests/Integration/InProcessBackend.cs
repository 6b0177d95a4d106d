using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Mesh.Tests.Integration;

/// <summary>
/// A backend faked in the test process: Kestrel on a loopback port that passes the gateway's readiness probe (load 0)
/// and serves whatever else the test maps, where a real backend process cannot be made to misbehave that way.
/// </summary>
public sealed class InProcessBackend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private InProcessBackend(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    public Uri Url { get; }

    public static async Task<InProcessBackend> StartAsync(Action<WebApplication> mapRoutes)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.Urls.Add("http://127.0.0.1:0");
        app.MapGet("/readyz", (HttpContext context) =>
        {
            context.Response.Headers["X-Mesh-Load"] = "0";
            return Results.Text("ready");
        });
        app.MapGet("/healthz", () => Results.Text("alive"));
        mapRoutes(app);
        await app.StartAsync();
        // The port the server bound in place of 0.
        return new InProcessBackend(app, new Uri(app.Urls.Single()));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
