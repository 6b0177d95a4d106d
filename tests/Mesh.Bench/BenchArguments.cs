using System.Globalization;

namespace Mesh.Bench;

/// <summary>
/// The <c>--name value</c> options of the small benchmarks (<c>resampler</c>, <c>ttfa</c>): each known name takes one
/// value; anything else, and any value that is not what its option takes, is reported in one line (no stack trace).
/// </summary>
internal sealed class BenchArguments
{
    private readonly string _benchmark;
    private readonly Dictionary<string, string> _values;

    private BenchArguments(string benchmark, Dictionary<string, string> values)
    {
        _benchmark = benchmark;
        _values = values;
    }

    /// <param name="benchmark">The name errors start with.</param>
    /// <param name="options">Each option and what its value is (<c>N</c>, <c>URL</c>, <c>PATH</c>), in the order the usage lists them.</param>
    /// <returns>The values given; null (with the error written) when an option is unknown or has no value.</returns>
    public static BenchArguments? Parse(string benchmark, string[] args, params (string Name, string Value)[] options)
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

        return new BenchArguments(benchmark, values);
    }

    public string? Text(string name) => _values.GetValueOrDefault(name);

    /// <summary>A whole number of at least 1, or <paramref name="fallback"/> when absent; null (with the error written) otherwise.</summary>
    public int? PositiveInteger(string name, int fallback)
    {
        if (!_values.TryGetValue(name, out var text))
        {
            return fallback;
        }

        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= 1)
        {
            return value;
        }

        Invalid(name, text, "a whole number of at least 1");
        return null;
    }

    /// <summary>A finite number above 0, or <paramref name="fallback"/> when absent; null (with the error written) otherwise.</summary>
    public double? PositiveNumber(string name, double fallback)
    {
        if (!_values.TryGetValue(name, out var text))
        {
            return fallback;
        }

        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) && value > 0)
        {
            return value;
        }

        Invalid(name, text, "a number above 0");
        return null;
    }

    /// <summary>A required absolute http(s) URL; null (with the error written) when missing or not one.</summary>
    public Uri? HttpUrl(string name)
    {
        if (!_values.TryGetValue(name, out var text))
        {
            Console.Error.WriteLine($"{_benchmark}: {name} URL is required");
            return null;
        }

        if (AsHttpUrl(text) is { } url)
        {
            return url;
        }

        Invalid(name, text, "an http(s) URL such as http://127.0.0.1:8080");
        return null;
    }

    /// <summary><paramref name="text"/> as an absolute http or https URL, else null: what every benchmark's target must be.</summary>
    public static Uri? AsHttpUrl(string text) =>
        Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Scheme is "http" or "https" ? url : null;

    private void Invalid(string name, string text, string expected) =>
        Console.Error.WriteLine($"{_benchmark}: {name} must be {expected}, not '{text}'");
}
