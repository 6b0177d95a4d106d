using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.Tests.Observability;

/// <summary>
/// A backend that passes its readiness probe and answers every speech request with 503, as an overloaded or
/// broken backend does: the gateway retries such a request on another backend and ejects this one.
/// </summary>
public sealed class RefusingBackend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RefusingBackend(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    public Uri Url { get; }

    public static async Task<RefusingBackend> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapGet("/readyz", (HttpContext context) =>
        {
            context.Response.Headers["X-Mesh-Load"] = "0";
            return Results.Text("ready");
        });
        app.MapGet("/healthz", () => Results.Text("alive"));
        app.MapFallback(() => Results.Json(
            new { error = new { message = "Overloaded.", type = "server_error", param = (string?)null, code = "overloaded" } },
            statusCode: StatusCodes.Status503ServiceUnavailable));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new RefusingBackend(app, new Uri(address));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
