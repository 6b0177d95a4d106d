using Mesh.Backend.Host;
using Prometheus;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Services.AddOptions<EngineOptions>().Bind(builder.Configuration).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddOptions<BackendOptions>().BindConfiguration(BackendOptions.Section).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddSingleton<EngineMetrics>();
builder.Services.AddSingleton<ModelHost>();
builder.Services.AddHostedService(services => services.GetRequiredService<ModelHost>());

var app = builder.Build();
StartupLog.EffectiveConfiguration(app);
app.UseMiddleware<RequestIdMiddleware>();
app.MapHealthEndpoints();
app.MapSpeechEndpoints();
app.MapMetrics();
app.Run();
