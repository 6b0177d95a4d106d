using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Mesh.Contracts.Http;

/// <summary>
/// Runs a host so that a setting it refuses at start ends the process with a line naming the setting as the operator
/// wrote it (<c>WORKERS</c>, <c>Mesh:Discovery:RefreshMs</c>) and exit code 1, instead of an unhandled exception's
/// stack trace and an abort that names C# properties. An address another process holds ends it the same way, with
/// Kestrel's line naming the address.
/// </summary>
public static partial class ConfigurationErrors
{
    public static int Run(Action host)
    {
        try
        {
            host();
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
