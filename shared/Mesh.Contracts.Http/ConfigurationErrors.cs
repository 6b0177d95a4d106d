using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Mesh.Contracts.Http;

/// <summary>
/// Runs a host so that a setting it refuses at start ends the process with a line naming the setting as the operator
/// wrote it (<c>WORKERS</c>, <c>Mesh:Discovery:RefreshMs</c>) and exit code 1, instead of an unhandled exception's
/// stack trace and an abort that names C# properties. An address another process holds ends it the same way, with
/// Kestrel's line naming the address. A SIGTERM while the host still starts ends it as one after the start does, with
/// exit code 0.
/// </summary>
public static partial class ConfigurationErrors
{
    /// <summary>Builds the host with <paramref name="build"/> and runs it until it stops.</summary>
    public static int Run(Func<WebApplication> build)
    {
        // The host handles SIGTERM only from the start of its run; one before that would end the process with 143, so
        // it is taken from here on and stops the host as the host's own handling does. Not disposed: a SIGTERM handled
        // while the process ends must not find it disposed.
        var sigterm = new CancellationTokenSource();
        using var sigtermHandler = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            sigterm.Cancel();
        });
        var stopping = CancellationToken.None;
        try
        {
            var app = build();
            var lifetime = app.Lifetime;
            // Taken before the run, which disposes the host's services.
            stopping = lifetime.ApplicationStopping;
            using var stopOnSigterm = sigterm.Token.Register(lifetime.StopApplication);
            app.Run();
            return 0;
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // The shutdown cancelled the start (Kestrel binding its port, a hosted service starting): the stop that
            // was asked for. Any other cancellation is a failure and stays unhandled.
            return 0;
        }
        catch (Exception ex) when (Describe(ex) is { } message)
        {
            Console.Error.WriteLine($"Configuration refused: {message}");
            return 1;
        }
        catch (IOException ex) when (ex.InnerException is AddressInUseException)
        {
            Console.Error.WriteLine($"Cannot listen: {ex.Message}");
            return 1;
        }
    }

    /// <summary>What was wrong with the configuration, or null when <paramref name="exception"/> is not about it.</summary>
    public static string? Describe(Exception exception) => exception switch
    {
        // The start's validation throws one exception for each kind of settings refused when there are several.
        AggregateException several when several.InnerExceptions.All(inner => Describe(inner) is not null) =>
            string.Join(" ", several.InnerExceptions.Select(Describe)),
        RefusedSettingException refused => refused.Message,
        OptionsValidationException invalid => string.Join(" ", invalid.Failures.Select(failure => InSettingNames(failure, invalid.OptionsType))),
        // The binder's own message names the key and the value: 'abc' at 'REQUEST_TIMEOUT_SECONDS' to type 'System.Int32'.
        InvalidOperationException { InnerException: FormatException or OverflowException or ArgumentException } binding
            when binding.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal) => binding.Message,
        _ => null,
    };

    /// <summary>Each property the validator names becomes its configuration key: its own name, or the section's path to it.</summary>
    private static string InSettingNames(string failure, Type optionsType)
    {
        // A source-generated validator puts the member's bare name first (MaxQueue: The field ..., Pool: The ... field is
        // required), which the message then names by its key.
        failure = MemberNamePrefix().Replace(failure, "");
        var section = optionsType.GetField("Section", BindingFlags.Public | BindingFlags.Static)?.GetValue(null) as string;
        if (section is not null)
        {
            // A nested member is named by its path from the type (field AdmissionOptions.Realtime.MaxQueue), a member of a
            // list entry with the entry's index (FleetOptions.Backends[2].Address): both become the key's steps.
            failure = Regex.Replace(
                failure,
                $@"\b(field )?{optionsType.Name}((?:\.\w+|\[\d+\])+)(?![\w\[])",
                nested => $"{(nested.Groups[1].Success ? "setting " : "")}{section}{MemberPathStep().Replace(nested.Groups[2].Value, step => $":{step.Groups[1].Value}")}");
        }

        foreach (var property in optionsType.GetProperties())
        {
            var key = property.GetCustomAttribute<ConfigurationKeyNameAttribute>()?.Name
                ?? (section is null ? property.Name : $"{section}:{property.Name}");
            failure = failure.Replace($"'{property.Name}'", $"'{key}'", StringComparison.Ordinal)
                .Replace($"field {property.Name} ", $"setting {key} ", StringComparison.Ordinal);
        }

        return failure;
    }

    [GeneratedRegex(@"^\w+: (?=The )", RegexOptions.CultureInvariant)]
    private static partial Regex MemberNamePrefix();

    /// <summary>A step of a C# member path, <c>.Name</c> or <c>[2]</c>, whose index is its group.</summary>
    [GeneratedRegex(@"\.|\[(\d+)\]", RegexOptions.CultureInvariant)]
    private static partial Regex MemberPathStep();
}
