using Mesh.Contracts.Http;
using Mesh.Gateway;
using Mesh.Gateway.Admission;
using Mesh.Gateway.Auth;
using Mesh.Gateway.Health;
using Mesh.Gateway.Routing;
using Mesh.Gateway.Streaming;
using Microsoft.Extensions.Options;
using Prometheus;

return ConfigurationErrors.Run(() =>
{
    var inlineIo = InlineIo.Enable();
    var builder = WebApplication.CreateSlimBuilder(args);
    builder.WebHost.UseSockets(sockets => sockets.UnsafePreferInlineScheduling = inlineIo);
    builder.UseConfiguredServerLimits();
    builder.UseConsoleLogFormats();
    builder.Configuration.AddGatewayFiles();
    builder.Services.AddGateway();

    var app = builder.Build();
    app.ReportFileSaves();
    // Every refused setting at once, before the log below would stop at the first.
    app.ValidateEverySetting(builder.Services);
    StartupLog.EffectiveConfiguration(app);
    app.UseMiddleware<RequestCountingMiddleware>();
    // Before the request id is added to the request's headers, so the limits see the head as the client sent it.
    app.UseRequestHeadLimits();
    app.UseMiddleware<RequestIdMiddleware>();
    // Inside the counting, which then counts the 500 it answers as any other.
    app.UseMiddleware<UnhandledErrorMiddleware>();
    if (app.Services.GetRequiredService<IOptions<CorsSettings>>().Value.AllowedOrigins.Count > 0)
    {
        // Before the key check: a browser's preflight carries no Authorization header.
        app.UseCors();
    }

    app.UseWebSockets();
    app.UseMiddleware<ApiKeyMiddleware>();
    app.UseMiddleware<AllowedMethodsMiddleware>();
    app.MapGatewayEndpoints();
    app.MapCatalogEndpoints();
    app.MapPlayground();
    app.MapReverseProxy(proxy =>
    {
        proxy.UseMiddleware<RequestRoutingMiddleware>();
        proxy.UseMiddleware<AdmissionMiddleware>();
        proxy.UseMiddleware<DrainEndMiddleware>();
        proxy.UseMiddleware<ProxyOutcomeMiddleware>();
        proxy.UseMiddleware<FailoverMiddleware>();
        proxy.UseLoadBalancing();
        proxy.UsePassiveHealthChecks();
        proxy.UseMiddleware<StalledClientMiddleware>();
        proxy.UseMiddleware<StreamEndMiddleware>();
        proxy.UseMiddleware<WebSocketRelayMiddleware>();
    });
    app.MapMetrics();
    app.ExportPoolReadiness();
    return app;
});
