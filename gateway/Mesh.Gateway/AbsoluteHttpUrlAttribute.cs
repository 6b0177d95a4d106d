using System.ComponentModel.DataAnnotations;

namespace Mesh.Gateway;

/// <summary>
/// An absolute http or https URL, the only kind the gateway proxies to; <see cref="UrlAttribute"/> also takes <c>ftp:</c>
/// and any text after the scheme. A null value is left to <see cref="RequiredAttribute"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class AbsoluteHttpUrlAttribute() : ValidationAttribute("The field {0} must be an absolute http or https URL.")
{
    public override bool IsValid(object? value) =>
        value is null || (value is string url && Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https");
}
