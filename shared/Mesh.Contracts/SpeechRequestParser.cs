using System.Text.Json;
using System.Text.Unicode;

namespace Mesh.Contracts;

/// <summary>The outcome of reading a speech request: the request, or the precise error to answer with.</summary>
public sealed record ParsedSpeechRequest(SpeechRequest? Request, ApiError? Error)
{
    public bool IsValid => Error is null;
}

/// <summary>Reads and validates speech request bodies with the rules of the public contract.</summary>
public static class SpeechRequestParser
{
    public const int MaxInputCharacters = 4096;
    public const double MinSpeed = 0.25;
    public const double MaxSpeed = 4.0;

    /// <summary>Bodies above this are refused with 413 before parsing (4,096 characters of 4-byte UTF-8 plus fields).</summary>
    public const int MaxBodyBytes = 64 * 1024;

    public static ParsedSpeechRequest Parse(ReadOnlySpan<byte> utf8Json)
    {
        if (utf8Json.Length > MaxBodyBytes)
        {
            return Fail(ApiError.TooLarge($"Request body is {utf8Json.Length} bytes; the limit is {MaxBodyBytes}."));
        }

        if (!Utf8.IsValid(utf8Json))
        {
            return Fail(ApiError.InvalidRequest("Request body is not valid UTF-8.", null, "invalid_encoding"));
        }

        SpeechRequest? request;
        try
        {
            request = JsonSerializer.Deserialize(utf8Json, ContractsJsonContext.Default.SpeechRequest);
        }
        catch (JsonException ex)
        {
            var param = ParamFromPath(ex.Path);
            var message = param is null
                ? "Request body is not valid JSON."
                : $"Field '{param}' has the wrong type.";
            return Fail(ApiError.InvalidRequest(message, param, "invalid_json"));
        }

        if (request is null)
        {
            return Fail(ApiError.InvalidRequest("Request body must be a JSON object.", null, "invalid_json"));
        }

        var error = Validate(request);
        return error is null ? new ParsedSpeechRequest(request, null) : Fail(error);
    }

    /// <summary>
    /// Checks each field against the contract. <c>model</c> may be absent here: the seed-compatible streaming surfaces
    /// default it; <c>/v1/audio/speech</c> requires it like OpenAI does.
    /// </summary>
    public static ApiError? Validate(SpeechRequest request)
    {
        if (request.Model is "")
        {
            return ApiError.InvalidRequest("'model' must not be empty.", "model", "invalid_value");
        }

        if (request.Input is null)
        {
            return Missing("input");
        }

        var characters = CountCharacters(request.Input);
        if (characters == 0 || string.IsNullOrWhiteSpace(request.Input))
        {
            return ApiError.InvalidRequest("'input' must contain text.", "input", "invalid_value");
        }

        if (characters > MaxInputCharacters)
        {
            return ApiError.InvalidRequest(
                $"'input' is {characters} characters; the maximum is {MaxInputCharacters}.", "input", "string_above_max_length");
        }

        if (string.IsNullOrEmpty(request.Voice))
        {
            return Missing("voice");
        }

        if (request.ResponseFormat is { } format && !AudioFormats.All.Contains(format))
        {
            return OneOf("response_format", format, AudioFormats.All);
        }

        if (request.Speed is { } speed && (double.IsNaN(speed) || speed < MinSpeed || speed > MaxSpeed))
        {
            return ApiError.InvalidRequest(
                $"'speed' must be between {MinSpeed} and {MaxSpeed}; got {speed}.", "speed", "invalid_value");
        }

        if (request.StreamFormat is { } streamFormat && !StreamFormats.All.Contains(streamFormat))
        {
            return OneOf("stream_format", streamFormat, StreamFormats.All);
        }

        if (request.SampleRate is { } rate && !AudioFormats.SampleRates.Contains(rate))
        {
            return OneOf("sample_rate", rate.ToString(System.Globalization.CultureInfo.InvariantCulture), AudioFormats.SampleRates.Select(r => r.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        if (request.Priority is { } priority && !PriorityClasses.All.Contains(priority))
        {
            return OneOf("priority", priority, PriorityClasses.All);
        }

        return null;
    }

    /// <summary>Counts Unicode scalar values, so a character outside the BMP counts once.</summary>
    public static int CountCharacters(string text) => text.EnumerateRunes().Count();

    private static ParsedSpeechRequest Fail(ApiError error) => new(null, error);

    public static ApiError Missing(string param) =>
        ApiError.InvalidRequest($"Missing required parameter: '{param}'.", param, "missing_required_parameter");

    private static ApiError OneOf(string param, string value, IEnumerable<string> allowed) =>
        ApiError.InvalidRequest(
            $"'{value}' is not a valid {param}; expected one of: {string.Join(", ", allowed)}.", param, "invalid_value");

    private static string? ParamFromPath(string? path)
    {
        // System.Text.Json reports "$.field" for a field of the wrong type and "$" for a body that is not an object.
        if (string.IsNullOrEmpty(path) || path == "$")
        {
            return null;
        }

        return path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path;
    }
}
