using Mesh.Backend.Host;
using Prometheus;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Services.AddBackendServices(builder.Configuration);

var app = builder.Build();
StartupLog.EffectiveConfiguration(app);
app.UseMiddleware<ResponseHeadersMiddleware>();
app.UseWebSockets();
app.MapHealthEndpoints();
app.MapSpeechEndpoints();
app.MapWebSocketEndpoints();
app.MapMetrics();
app.Run();
