using Mesh.Backend.Pipeline;
using Mesh.Backend.Pipeline.Scheduling;
using Mesh.Contracts.Http;
using Microsoft.Extensions.Options;

namespace Mesh.Backend.Host;

public static class ServiceRegistration
{
    public static IServiceCollection AddBackendServices(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<EngineOptions>().Bind(configuration).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<BackendOptions>().BindConfiguration(BackendOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<PipelineSettings>().BindConfiguration(PipelineSettings.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddGracefulShutdown<ShutdownSettings>(ShutdownSettings.Section);
        services.AddStreamBuffers<StreamingSettings>(StreamingSettings.Section);
        services.AddOptions<WebSocketSessionOptions>().BindConfiguration(WebSocketSessionOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<FaultOptions>().BindConfiguration(FaultOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        services.AddSingleton<EngineMetrics>();
        services.AddSingleton<EngineWorkDeadline>();
        services.AddSingleton<ModelHost>();
        services.AddHostedService(provider => provider.GetRequiredService<ModelHost>());
        services.AddSingleton(provider =>
        {
            var engine = provider.GetRequiredService<IOptions<EngineOptions>>().Value;
            var pipeline = provider.GetRequiredService<IOptions<PipelineSettings>>().Value;
            var backend = provider.GetRequiredService<IOptions<BackendOptions>>().Value;
            return new SynthesisScheduler(
                new SchedulerLimits(engine.Workers, pipeline.MaxActiveRealtime, pipeline.MaxActiveBatch),
                provider.GetRequiredService<EngineWorkDeadline>(),
                new BackendMetrics.SchedulerObserver(backend.Name, backend.Variant),
                provider.GetRequiredService<ILogger<SynthesisScheduler>>());
        });
        services.AddSingleton(provider =>
        {
            var settings = provider.GetRequiredService<IOptions<PipelineSettings>>().Value;
            return new SpeechPipeline(provider.GetRequiredService<SynthesisScheduler>(), new PipelineOptions(settings.Lookahead, settings.MaxSentenceLength));
        });
        services.AddSingleton<SpeechPreparation>();
        services.AddSingleton<SpeechServices>();
        return services;
    }
}
