using System.ComponentModel.DataAnnotations;
using Mesh.Backend.Engine;

namespace Mesh.Backend.Host;

/// <summary>
/// <c>CUDA_GRAPH_BUCKETS</c> checked at start by the parser the engine uses, so sizes out of order, repeated or not
/// positive stop the backend with the parser's reason instead of failing the model's load later.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class GraphBucketsAttribute : ValidationAttribute
{
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext)
    {
        ArgumentNullException.ThrowIfNull(validationContext);
        try
        {
            GraphBucketing.Parse(value as string ?? string.Empty);
            return ValidationResult.Success;
        }
        catch (ArgumentException ex)
        {
            return new ValidationResult(ex.Message, validationContext.MemberName is { } member ? [member] : null);
        }
    }
}
