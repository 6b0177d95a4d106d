using Microsoft.Extensions.Options;

namespace Mesh.Gateway;

/// <summary>
/// Refuses settings whose list at <paramref name="listKey"/> has an entry that does not bind. The configuration binder
/// drops a list entry with a value it cannot convert (<c>"Burst":"abc"</c>) without a word (dotnet/runtime#35007), so an
/// API key or a backend would vanish; this names the entry and the binder's reason instead, so the start stops and a
/// reload is refused as for any other setting that does not bind. An entry that is no object of settings (JSON
/// <c>null</c>, <c>{}</c>, a bare value) is named likewise.
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

        // A list that lost no entry in binding holds none that fails to bind alone.
        var anyDropped = boundList(options).Count != entries.Count;
        var failures = new List<string>();
        foreach (var entry in entries)
        {
            if (!entry.GetChildren().Any())
            {
                // JSON null or {} binds to an entry of defaults, which its own checks then refuse without naming it; a
                // bare value ("abc") is dropped.
                var what = entry.Value is { Length: > 0 } value ? $"'{value}'" : "null or empty";
                failures.Add($"{entry.Path} is {what}: an entry of the list is an object of settings.");
            }
            else if (anyDropped && BindError(entry) is { } error)
            {
                failures.Add($"{entry.Path} does not bind: {error}");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Bound on its own, an entry throws the error that binding the whole list swallowed.</summary>
    private static string? BindError(IConfigurationSection entry)
    {
        try
        {
            _ = entry.Get<TEntry>();
            return null;
        }
        catch (InvalidOperationException ex)
        {
            return ex.Message;
        }
    }
}
