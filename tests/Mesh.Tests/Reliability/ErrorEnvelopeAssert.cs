using System.Text.Json;
using Mesh.Contracts;

namespace Mesh.Tests.Reliability;

/// <summary>Checks that a body is exactly OpenAI's error envelope, and what it says.</summary>
public static class ErrorEnvelopeAssert
{
    /// <summary>Parses <paramref name="json"/> as <c>{"error":{"message","type","param","code"}}</c> and returns the error object.</summary>
    public static JsonElement IsEnvelope(string json)
    {
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(json);
            root = document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new Xunit.Sdk.XunitException($"The body is not JSON ({ex.Message}): {Shorten(json)}");
        }

        Assert.True(root.ValueKind == JsonValueKind.Object && root.TryGetProperty("error", out _), $"no 'error' object: {Shorten(json)}");
        // Messages read as written, apostrophes too, for whoever reads the body without a JSON parser (curl).
        Assert.DoesNotContain("\\u0027", json, StringComparison.Ordinal);
        return IsErrorBody(root.GetProperty("error"));
    }

    /// <summary>The inner error object: a non-empty message, a type, and param and code present (string or null).</summary>
    public static JsonElement IsErrorBody(JsonElement error)
    {
        Assert.Equal(JsonValueKind.Object, error.ValueKind);
        Assert.True(error.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String && message.GetString()!.Trim().Length > 0, "error.message is empty");
        Assert.True(error.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString()!.Length > 0, "error.type is missing");
        foreach (var name in new[] { "param", "code" })
        {
            Assert.True(error.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.String or JsonValueKind.Null, $"error.{name} is missing");
        }

        return error;
    }

    public static void Says(JsonElement error, string type, string? param, string? code)
    {
        Assert.Equal(type, error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal(code, error.GetProperty("code").GetString());
    }

    public static void Says(JsonElement error, string? param, string? code) => Says(error, ErrorTypes.InvalidRequest, param, code);

    private static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "…";
}
