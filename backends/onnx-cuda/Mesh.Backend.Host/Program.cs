using Mesh.Backend.Host;
using Mesh.Contracts.Http;
using Prometheus;

return ConfigurationErrors.Run(() =>
{
    var builder = WebApplication.CreateSlimBuilder(args);
    builder.UseConfiguredServerLimits();
    builder.Services.AddBackendServices(builder.Configuration);

    var app = builder.Build();
    StartupLog.EffectiveConfiguration(app);
    app.UseMiddleware<ResponseHeadersMiddleware>();
    app.UseStatusCodePages(EmptyErrors.WriteEnvelopeAsync);
    app.UseWebSockets();
    app.MapHealthEndpoints();
    app.MapSpeechEndpoints();
    app.MapWebSocketEndpoints();
    app.MapMetrics();
    app.Run();
});
