using System.Globalization;

namespace Mesh.ModelTools;

/// <summary>
/// A command's <c>--name value</c> options and <c>--flag</c>s. Anything wrong with the command line itself (an unknown
/// option, a missing value, a number that is not one) is a <see cref="UsageException"/>.
/// </summary>
internal sealed class Options
{
    private readonly Dictionary<string, string> _values = [];
    private readonly HashSet<string> _flags = [];

    public static Options Parse(string[] args, string[] valued, string[] flags)
    {
        var options = new Options();
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (!valued.Contains(name) && !flags.Contains(name))
            {
                throw new UsageException(name.StartsWith('-') ? $"unknown option {name}." : $"unexpected argument '{name}'.");
            }

            if (options._values.ContainsKey(name) || options._flags.Contains(name))
            {
                throw new UsageException($"{name} is given twice.");
            }

            if (flags.Contains(name))
            {
                options._flags.Add(name);
                continue;
            }

            // "--out --only x" lacks the directory: it does not name one "--only".
            if (i + 1 == args.Length || string.IsNullOrWhiteSpace(args[i + 1]) || valued.Contains(args[i + 1]) || flags.Contains(args[i + 1]))
            {
                throw new UsageException($"{name} needs a value.");
            }

            options._values[name] = args[++i];
        }

        return options;
    }

    public string? Get(string name) => _values.GetValueOrDefault(name);

    public string Required(string name) => Get(name) ?? throw new UsageException($"{name} is required.");

    public bool Flag(string name) => _flags.Contains(name);

    /// <summary>A whole number, or <paramref name="fallback"/> when the option is absent.</summary>
    public int Int(string name, int fallback) => Number(name, fallback, int.MinValue, "a whole number");

    /// <summary>A whole number of at least 1, or <paramref name="fallback"/> (which may stand for "all") when the option is absent.</summary>
    public int Count(string name, int fallback) => Number(name, fallback, 1, "a whole number of at least 1");

    /// <summary>The names of a comma-separated list (at least one), or null when the option is absent.</summary>
    public string[]? List(string name) =>
        Get(name) is not { } value ? null
        : value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) is { Length: > 0 } names ? names
        : throw new UsageException($"{name} names nothing: '{value}'.");

    private int Number(string name, int fallback, int minimum, string expected) =>
        Get(name) is not { } value ? fallback
        : int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed) && parsed >= minimum ? parsed
        : throw new UsageException($"{name} must be {expected}, not '{value}'.");
}

/// <summary>The command line is not one the tool takes; the message says why, and the usage follows it.</summary>
internal sealed class UsageException(string message) : Exception(message);

internal static class CommandLine
{
    /// <summary>
    /// The message of <paramref name="ex"/> without the <c> (Parameter 'name')</c> that <see cref="ArgumentException"/>
    /// appends: the name of a C# parameter means nothing on a command line, where the messages name the option.
    /// </summary>
    public static string MessageOf(Exception ex)
    {
        var suffix = ex is ArgumentException { ParamName: { } parameter } ? $" (Parameter '{parameter}')" : null;
        return suffix is not null && ex.Message.EndsWith(suffix, StringComparison.Ordinal) ? ex.Message[..^suffix.Length] : ex.Message;
    }

    /// <summary>
    /// Refuses an output directory that is a file or holds anything: a command writes only where it loses nothing.
    /// <paramref name="remedy"/>, when given, follows the refusal.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="path"/> is a file, or a directory that is not empty.</exception>
    public static void RequireEmptyOutput(string path, string? remedy = null)
    {
        if (File.Exists(path))
        {
            throw new ArgumentException($"--out {path} is a file, not a directory.", nameof(path));
        }

        if (Directory.Exists(path) && Directory.EnumerateFileSystemEntries(path).Any())
        {
            throw new ArgumentException($"--out {path} exists and is not empty{(remedy is null ? null : "; " + remedy)}.", nameof(path));
        }
    }

    /// <summary>An <see cref="ArgumentException"/> about the value of one option, told with the option's name in front.</summary>
    public static ArgumentException Naming(string option, ArgumentException ex) => new($"{option} {MessageOf(ex)}", ex);
}
