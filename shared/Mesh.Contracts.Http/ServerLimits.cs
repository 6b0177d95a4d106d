using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;

namespace Mesh.Contracts.Http;

/// <summary>
/// Applies <c>Kestrel:Limits</c> from configuration to the server. The slim host does not bind that section by itself,
/// so without this the limits in appsettings.json would be silently ignored; an unknown key fails the start instead.
/// The request head limits are enforced by <see cref="RequestHeadLimitsMiddleware"/>, which answers with the error
/// envelope; Kestrel gets twice their room and reads header values byte for byte, so that its bare answers are left
/// for heads beyond that.
/// </summary>
public static class ServerLimits
{
    public const string Section = "Kestrel:Limits";

    public static WebApplicationBuilder UseConfiguredServerLimits(this WebApplicationBuilder builder)
    {
        builder.WebHost.ConfigureKestrel((context, options) =>
        {
            Apply(context.Configuration.GetSection(Section), options.Limits);
            RequestHeadLimits.Of(options.Limits).WidenForKestrel(options.Limits);
            // Kestrel's default decoding answers a value that is not UTF-8 with a bare 400; Latin-1 takes any byte.
            options.RequestHeaderEncodingSelector = _ => Encoding.Latin1;
        });
        return builder;
    }

    public static void Apply(IConfigurationSection section, KestrelServerLimits limits)
    {
        section.Bind(limits, binder => binder.ErrorOnUnknownConfiguration = true);
        // The data rates are immutable objects with no setters to bind, so they are built here.
        limits.MinRequestBodyDataRate = DataRate(section.GetSection(nameof(KestrelServerLimits.MinRequestBodyDataRate)), limits.MinRequestBodyDataRate);
        limits.MinResponseDataRate = DataRate(section.GetSection(nameof(KestrelServerLimits.MinResponseDataRate)), limits.MinResponseDataRate);
    }

    private static MinDataRate? DataRate(IConfigurationSection section, MinDataRate? current)
    {
        if (!section.Exists())
        {
            return current;
        }

        var bytesPerSecond = section.GetValue<double?>(nameof(MinDataRate.BytesPerSecond))
            ?? throw new InvalidOperationException($"'{section.Path}' needs BytesPerSecond.");
        var gracePeriod = section.GetValue<TimeSpan?>(nameof(MinDataRate.GracePeriod))
            ?? throw new InvalidOperationException($"'{section.Path}' needs GracePeriod.");
        return new MinDataRate(bytesPerSecond, gracePeriod);
    }
}
