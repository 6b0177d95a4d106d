using System.Globalization;
using Microsoft.Extensions.Options;

namespace Mesh.Gateway;

/// <summary>
/// Names each refused weight of <c>Mesh:Variants:Weights</c> by its key. The configuration binder drops a dictionary
/// value it cannot convert (<c>abc</c>) without a word (dotnet/runtime#35007), so its variant would silently get none of
/// the traffic: a weight configured but not bound is one of those.
/// </summary>
public sealed class VariantWeightsValidator(IConfiguration configuration) : IValidateOptions<VariantOptions>
{
    public ValidateOptionsResult Validate(string? name, VariantOptions options)
    {
        if (name != Options.DefaultName)
        {
            return ValidateOptionsResult.Skip;
        }

        var failures = new List<string>();
        foreach (var weight in configuration.GetSection($"{VariantOptions.Section}:{nameof(VariantOptions.Weights)}").GetChildren())
        {
            if (!options.Weights.TryGetValue(weight.Key, out var bound))
            {
                failures.Add($"{weight.Path} is '{weight.Value}': a weight is a number.");
            }
            else if (bound < 0 || !double.IsFinite(bound))
            {
                failures.Add($"{weight.Path} is {bound.ToString(CultureInfo.InvariantCulture)}: a weight must be finite and not negative.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
