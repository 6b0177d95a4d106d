using Microsoft.Extensions.Options;

namespace Mesh.Gateway;

/// <summary>
/// Checks each entry of the list <paramref name="listName"/> of <paramref name="section"/> on its own, by its key. The
/// configuration binder drops a list entry with a value it cannot convert (<c>"Burst":"abc"</c>) without a word
/// (dotnet/runtime#35007), so an API key or a backend would vanish; this names the entry and the binder's reason
/// instead, so the start stops and a reload is refused as for any other setting that does not bind. An entry that is
/// no object of settings (JSON <c>null</c>, <c>{}</c>, a bare value) is named likewise, and only that: the binder turns
/// null and {} into an entry of defaults, whose own checks would fail too, naming no setting. Every other entry gets
/// the checks of <paramref name="entryValidator"/>, named after its entry (<c>FleetOptions.Backends[2].Address</c>), which
/// the refusal names by its key (<c>Mesh:Fleet:Backends:2:Address</c>).
/// </summary>
public sealed class ListEntriesValidator<TOptions, TEntry>(
    IConfiguration configuration, string section, string listName, IValidateOptions<TEntry> entryValidator) : IValidateOptions<TOptions>
    where TOptions : class
    where TEntry : class, new()
{
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        if (name != Options.DefaultName)
        {
            return ValidateOptionsResult.Skip;
        }

        var failures = new List<string>();
        foreach (var entry in configuration.GetSection($"{section}:{listName}").GetChildren())
        {
            if (!entry.GetChildren().Any())
            {
                var what = entry.Value is { Length: > 0 } value ? $"'{value}'" : "null or empty";
                failures.Add($"{entry.Path} is {what}: an entry of the list is an object of settings.");
                continue;
            }

            // Bound on its own, an entry throws the error that binding the whole list swallowed.
            var bound = new TEntry();
            try
            {
                entry.Bind(bound);
            }
            catch (InvalidOperationException ex)
            {
                failures.Add($"{entry.Path} does not bind: {ex.Message}");
                continue;
            }

            failures.AddRange(entryValidator.Validate($"{typeof(TOptions).Name}.{listName}[{entry.Key}]", bound).Failures ?? []);
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
