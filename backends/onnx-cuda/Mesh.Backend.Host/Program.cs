using Mesh.Backend.Host;
using Mesh.Contracts.Http;
using Prometheus;

return ConfigurationErrors.Run(() =>
{
    var builder = WebApplication.CreateSlimBuilder(args);
    builder.UseConfiguredServerLimits();
    builder.UseConsoleLogFormats();
    builder.Services.AddBackendServices(builder.Configuration);

    var app = builder.Build();
    // Every refused setting at once, before the log below would stop at the first.
    app.ValidateEverySetting(builder.Services);
    StartupLog.EffectiveConfiguration(app);
    app.UseMiddleware<ResponseHeadersMiddleware>();
    app.UseMiddleware<UnhandledErrorMiddleware>();
    // A head refused for its size or encoding was never read as a request: its priority is not known.
    app.UseRequestHeadLimits((context, error) => context.RequestServices.GetRequiredService<SpeechServices>().Count(error, BackendMetrics.Unknown));
    app.UseStatusCodePages(EmptyErrors.WriteEnvelopeAsync);
    app.UseWebSockets();
    app.MapHealthEndpoints();
    app.MapSpeechEndpoints();
    app.MapWebSocketEndpoints();
    // prometheus-net maps every method; like the other read endpoints, /metrics answers GET and HEAD, else 405.
    app.MapMetrics().WithMetadata(new HttpMethodMetadata(ReadEndpoints.Methods));
    return app;
});
