namespace Mesh.Bench;

/// <summary>
/// The <c>--name value</c> options of the small benchmarks (<c>resampler</c>, <c>ttfa</c>): each known name takes one
/// value; anything else is reported with the benchmark's option list.
/// </summary>
internal static class BenchArguments
{
    /// <param name="benchmark">The name errors start with.</param>
    /// <param name="options">Each option and what its value is (<c>N</c>, <c>URL</c>, <c>PATH</c>), in the order the usage lists them.</param>
    /// <returns>The values given, by option name; null (with the error written) when an option is unknown or has no value.</returns>
    public static Dictionary<string, string>? Parse(string benchmark, string[] args, params (string Name, string Value)[] options)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            if (!options.Any(o => o.Name == args[i]) || i + 1 >= args.Length)
            {
                Console.Error.WriteLine($"{benchmark}: unknown option {args[i]}; options: {string.Join(' ', options.Select(o => $"{o.Name} {o.Value}"))}");
                return null;
            }

            values[args[i]] = args[++i];
        }

        return values;
    }
}
