using Mesh.Contracts;
using Mesh.Contracts.Http;
using Mesh.Gateway.Admission;
using Mesh.Gateway.Auth;
using Mesh.Gateway.Balancing;
using Mesh.Gateway.Discovery;
using Mesh.Gateway.Health;
using Mesh.Gateway.Routing;
using Mesh.Gateway.Streaming;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;
using Yarp.ReverseProxy.Transforms;

namespace Mesh.Gateway;

public static class GatewayServiceRegistration
{
    public static IServiceCollection AddGateway(this IServiceCollection services)
    {
        // First, so that the refusal opens with the entries of the lists, each named by its key.
        services.ValidateEachListEntry<FleetOptions, BackendEndpoint>(FleetOptions.Section, nameof(FleetOptions.Backends), new BackendEndpointValidator());
        services.ValidateEachListEntry<AuthOptions, ApiKeyEntry>(AuthOptions.Section, nameof(AuthOptions.Keys), new ApiKeyEntryValidator());

        // Each backend's own fields are checked with its entry; only what spans backends is checked here. A backend
        // without a name is refused by its entry's checks (or as null or {}), not again as a second one named "".
        services.AddReloadableOptions<FleetOptions>(FleetOptions.Section).Validate(
            fleet => fleet.Backends.GroupBy(b => b.Name, StringComparer.Ordinal).All(named => string.IsNullOrEmpty(named.Key) || named.Count() == 1),
            $"Every backend of {FleetOptions.Section}:Backends needs a Name of its own.").ValidateOnStart();
        services.AddOptions<DiscoveryOptions>().BindConfiguration(DiscoveryOptions.Section).ValidateDataAnnotations().Validate(
            d => d.HostsFile is not { Length: > 0 } path || File.Exists(path), "Mesh:Discovery:HostsFile must name an existing file.").ValidateOnStart();
        services.AddReloadableOptions<VariantOptions>(VariantOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<VariantOptions>, VariantWeightsValidator>();
        services.AddReloadableOptions<AdmissionOptions>(AdmissionOptions.Section).Validate(
            a => a.RealtimeReserved < a.TotalConcurrency,
            $"{AdmissionOptions.Section}:RealtimeReserved must leave batch at least one slot of {AdmissionOptions.Section}:TotalConcurrency.").ValidateOnStart();
        services.AddReloadableOptions<BalancingOptions>(BalancingOptions.Section).ValidateDataAnnotations().Validate(
            b => BalancingOptions.Policies.Contains(b.Policy, StringComparer.Ordinal),
            $"Mesh:Balancing:Policy must be one of: {string.Join(", ", BalancingOptions.Policies)}.").ValidateOnStart();
        services.AddReloadableOptions<PassiveHealthOptions>(PassiveHealthOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddReloadableOptions<AuthOptions>(AuthOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AdmissionOptions>, AdmissionOptionsValidator>();
        services.AddSingleton<IValidateOptions<AuthOptions>, AuthOptionsValidator>();

        services.AddGracefulShutdown<GatewayShutdownOptions>(GatewayShutdownOptions.Section);
        services.AddStreamBuffers<GatewayStreamBufferOptions>(GatewayStreamBufferOptions.Section);
        services.AddReloadableOptions<WebSocketRelayOptions>(WebSocketRelayOptions.Section).Validate(
            w => w.AllowedOrigins.All(CorsSettings.IsOrigin), $"Every origin of {WebSocketRelayOptions.Section}:AllowedOrigins must be scheme://host[:port], with no path.").ValidateOnStart();
        services.AddOptions<CorsSettings>().BindConfiguration(CorsSettings.Section).Validate(
            c => c.AllowedOrigins.All(CorsSettings.IsOrigin), $"Every origin of {CorsSettings.Section}:AllowedOrigins must be scheme://host[:port], with no path.").ValidateOnStart();
        services.AddCors();
        services.AddOptions<CorsOptions>().Configure<IOptions<CorsSettings>>((cors, settings) => cors.AddDefaultPolicy(policy => policy
            .WithOrigins([.. settings.Value.AllowedOrigins])
            .WithMethods(HttpMethods.Get, HttpMethods.Post)
            // Any request header: the origin is what is checked, and the OpenAI SDKs add headers of their own (X-Stainless-*)
            // that a fixed list refused, failing every call from the page.
            .AllowAnyHeader()
            .WithExposedHeaders(
                MeshHeaders.RequestId, MeshHeaders.Variant, MeshHeaders.Backend, MeshHeaders.QueueMs,
                MeshHeaders.PcmSampleRate, MeshHeaders.PcmBitDepth, MeshHeaders.PcmChannels, "Retry-After",
                MeshHeaders.RetryAfterMs, MeshHeaders.ShouldRetry)
            .SetPreflightMaxAge(TimeSpan.FromMinutes(10))));
        services.AddSingleton<IBackendAddressResolver>(provider =>
            provider.GetRequiredService<IOptions<DiscoveryOptions>>().Value.HostsFile is { Length: > 0 } hostsFile
                ? new HostsFileAddressResolver(hostsFile)
                : new DnsAddressResolver());
        services.AddSingleton<BackendDiscovery>();
        services.AddHostedService(provider => provider.GetRequiredService<BackendDiscovery>());
        services.AddSingleton<IProxyConfigProvider, FleetProxyConfigProvider>();
        services.AddReverseProxy().AddTransforms(transforms =>
        {
            var load = transforms.Services.GetRequiredService<BackendLoad>();
            var unresponsive = transforms.Services.GetRequiredService<UnresponsiveBackends>();
            transforms.AddRequestTransform(context => BackendHttpClientFactory.WatchBackendAsync(context, unresponsive));
            transforms.AddResponseTransform(FailoverMiddleware.HoldBackRefusalAsync);
            transforms.AddResponseTransform(context => ProxyOutcomeMiddleware.ObserveResponseAsync(context, load));
        });
        services.Replace(ServiceDescriptor.Singleton<IForwarderHttpClientFactory, BackendHttpClientFactory>());
        services.AddSingleton<BackendLabels>();
        services.AddSingleton<MislabelledBackends>();
        services.AddSingleton<BackendLoad>();
        services.AddSingleton<UnresponsiveBackends>();
        services.AddSingleton<EjectedBackends>();
        services.AddSingleton<ILoadBalancingPolicy, LeastLoadedPolicy>();
        services.AddSingleton<IActiveHealthCheckPolicy, ReadyzWithLoadPolicy>();
        services.AddSingleton<IPassiveHealthCheckPolicy, ServerErrorsPolicy>();
        services.AddSingleton<CurrentBackends>();
        services.AddSingleton<IClusterChangeListener>(provider => provider.GetRequiredService<CurrentBackends>());
        services.AddSingleton<ApiKeyStore>();
        services.AddSingleton(provider =>
        {
            var options = provider.GetRequiredService<IOptionsMonitor<AdmissionOptions>>();
            return new AdmissionController(() => options.CurrentValue);
        });
        services.AddHttpClient<BackendCatalog>(client => client.Timeout = TimeSpan.FromSeconds(3));
        return services;
    }

    /// <summary>
    /// Settings bound to <paramref name="section"/> and read live, through a monitor that keeps the last valid settings
    /// when a saved file fails validation instead of failing every request after it.
    /// </summary>
    private static OptionsBuilder<TOptions> AddReloadableOptions<TOptions>(this IServiceCollection services, string section)
        where TOptions : class
    {
        services.AddSingleton<IOptionsMonitor<TOptions>>(provider => ActivatorUtilities.CreateInstance<LastValidOptionsMonitor<TOptions>>(provider, section));
        return services.AddOptions<TOptions>().BindConfiguration(section);
    }

    /// <summary>Refuses <typeparamref name="TOptions"/> when an entry of its list <paramref name="listName"/> does not bind or fails <paramref name="entryValidator"/>.</summary>
    private static void ValidateEachListEntry<TOptions, TEntry>(
        this IServiceCollection services, string section, string listName, IValidateOptions<TEntry> entryValidator)
        where TOptions : class
        where TEntry : class, new() =>
        services.AddSingleton<IValidateOptions<TOptions>>(provider =>
            new ListEntriesValidator<TOptions, TEntry>(provider.GetRequiredService<IConfiguration>(), section, listName, entryValidator));
}
