using Microsoft.Extensions.Options;

namespace Mesh.Gateway;

/// <summary>
/// Refuses settings whose list at <paramref name="listKey"/> lost an entry in binding. The configuration binder drops a
/// list entry with a value it cannot convert (<c>"Burst":"abc"</c>) without a word (dotnet/runtime#35007), so an API
/// key or a backend would vanish; this names the entry and the binder's reason instead, so the start stops and a reload
/// is refused as for any other setting that does not bind.
/// </summary>
public sealed class ListEntriesBindValidator<TOptions, TEntry>(
    IConfiguration configuration, string listKey, Func<TOptions, IReadOnlyCollection<TEntry>> boundList) : IValidateOptions<TOptions>
    where TOptions : class
{
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        if (name != Options.DefaultName)
        {
            return ValidateOptionsResult.Skip;
        }

        var entries = configuration.GetSection(listKey).GetChildren().ToList();
        if (boundList(options).Count == entries.Count)
        {
            return ValidateOptionsResult.Success;
        }

        // Bound on its own, an entry throws the error that binding the whole list swallowed.
        var failures = new List<string>();
        foreach (var entry in entries)
        {
            try
            {
                _ = entry.Get<TEntry>();
            }
            catch (InvalidOperationException ex)
            {
                failures.Add($"{entry.Path} does not bind: {ex.Message}");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
