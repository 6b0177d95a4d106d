using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Mesh.Contracts.Http;

/// <summary>
/// Checks every setting at once before the host's start does, so that one refusal names them all. The host's own check
/// (<see cref="IStartupValidator"/>) gathers only validation failures: a value the binder cannot convert
/// (<c>Mesh:Admission:TotalConcurrency=abc</c>) escapes it at once and drops the failures gathered before it. Run
/// before anything reads a setting (the start-up log, a hosted service as the host starts), which would name the first
/// refused alone, or with the host's own report of its failed start and a stack trace.
/// </summary>
public static class SettingsValidation
{
    private static readonly MethodInfo CreateDefault = typeof(SettingsValidation).GetMethod(nameof(Create), BindingFlags.NonPublic | BindingFlags.Static)!;

    /// <summary>Builds each settings type that has a validator, as the start would, and throws what all of them refused.</summary>
    public static void ValidateEverySetting(this WebApplication app, IServiceCollection services)
    {
        var validated = services
            .Where(service => service.ServiceType.IsGenericType && service.ServiceType.GetGenericTypeDefinition() == typeof(IValidateOptions<>))
            .Select(service => service.ServiceType.GetGenericArguments()[0])
            .Distinct();
        var refused = new List<Exception>();
        foreach (var optionsType in validated)
        {
            try
            {
                CreateDefault.MakeGenericMethod(optionsType).Invoke(null, BindingFlags.DoNotWrapExceptions, null, [app.Services], null);
            }
            catch (Exception ex) when (ConfigurationErrors.Describe(ex) is not null)
            {
                refused.Add(ex);
            }
        }

        if (refused.Count > 0)
        {
            throw refused.Count == 1 ? refused[0] : new AggregateException(refused);
        }

        // Settings validated at start that have no validator of their own still have to bind.
        app.Services.GetRequiredService<IStartupValidator>().Validate();
    }

    // Through the factory, not the monitor, so that a refusal here leaves nothing cached for the host's start to read.
    private static void Create<TOptions>(IServiceProvider provider)
        where TOptions : class =>
        _ = provider.GetRequiredService<IOptionsFactory<TOptions>>().Create(Options.DefaultName);
}
