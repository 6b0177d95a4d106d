using System.Globalization;
using System.Text;
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
    /// <summary>The most characters of <c>input</c>, and of <c>instructions</c>, as OpenAI allows.</summary>
    public const int MaxInputCharacters = 4096;
    public const double MinSpeed = 0.25;
    public const double MaxSpeed = 4.0;

    /// <summary>Bodies above this are refused with 413 before parsing (4,096 characters of 4-byte UTF-8 plus fields).</summary>
    public const int MaxBodyBytes = 64 * 1024;

    /// <summary>Nesting deeper than this is refused; a speech request is one flat object.</summary>
    public const int MaxDepth = 64;

    private static readonly Dictionary<string, string> ExpectedTypes = new(StringComparer.Ordinal)
    {
        ["speed"] = "a number",
        ["sample_rate"] = "an integer",
        ["voice"] = VoiceJsonConverter.ExpectedType,
    };

    /// <summary>
    /// The body without a leading UTF-8 byte order mark, which RFC 8259 lets a reader ignore and some clients write
    /// (PowerShell, Windows editors); the JSON reader itself would refuse it as a syntax error at byte 1.
    /// </summary>
    public static ReadOnlySpan<byte> WithoutByteOrderMark(ReadOnlySpan<byte> utf8Json) =>
        utf8Json.StartsWith(Encoding.UTF8.Preamble) ? utf8Json[Encoding.UTF8.Preamble.Length..] : utf8Json;

    public static ParsedSpeechRequest Parse(ReadOnlySpan<byte> utf8Json)
    {
        if (utf8Json.Length > MaxBodyBytes)
        {
            return Fail(ApiError.TooLarge($"Request body is {utf8Json.Length} bytes; the limit is {MaxBodyBytes}."));
        }

        utf8Json = WithoutByteOrderMark(utf8Json);

        if (!Utf8.IsValid(utf8Json))
        {
            return Fail(ApiError.InvalidRequest("Request body is not valid UTF-8.", null, "invalid_encoding"));
        }

        // The syntax is checked on its own first, so a broken body is never reported as a field of the wrong type.
        var fields = new Dictionary<string, FieldToken>(StringComparer.Ordinal);
        if (Scan(utf8Json, fields) is { } syntaxError)
        {
            return Fail(syntaxError);
        }

        SpeechRequest? request;
        try
        {
            request = JsonSerializer.Deserialize(utf8Json, ContractsJsonContext.Wire.SpeechRequest);
        }
        catch (JsonException ex)
        {
            return Fail(WrongType(ParamFromPath(ex.Path), fields, (ex as VoiceObjectException)?.Got));
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

        // Input of whitespace or punctuation only is the backend's to refuse, by the rule its sentence splitter follows.
        var characters = CountCharacters(request.Input);
        if (characters == 0)
        {
            return ApiError.InvalidRequest("'input' must contain text.", "input", "invalid_value");
        }

        if (characters > MaxInputCharacters)
        {
            return ApiError.InvalidRequest(
                $"'input' is {characters} characters; the maximum is {MaxInputCharacters}.", "input", "string_above_max_length");
        }

        // Control characters are refused rather than passed on: the synthesizer reads text up to the first NUL, so
        // "a\u0000b" would be spoken as "a" without a word. Tab and line breaks are ordinary text layout, form feeds
        // above all: text taken from PDFs and word processors breaks its pages with them.
        if (FirstControlCharacter(request.Input) is { } control)
        {
            return ApiError.InvalidRequest(
                $"'input' contains the control character U+{(int)request.Input[control]:X4} at character {CountCharacters(request.Input[..control])}; only tab, line feed, vertical tab, form feed, carriage return and next line (U+0085) are allowed.",
                "input",
                "invalid_characters");
        }

        if (request.Voice is null)
        {
            return Missing("voice");
        }

        if (request.Voice is "")
        {
            return ApiError.InvalidRequest("'voice' must not be empty.", "voice", "invalid_value");
        }

        var instructionCharacters = request.Instructions is null ? 0 : CountCharacters(request.Instructions);
        if (instructionCharacters > MaxInputCharacters)
        {
            return ApiError.InvalidRequest(
                $"'instructions' is {instructionCharacters} characters; the maximum is {MaxInputCharacters}.", "instructions", "string_above_max_length");
        }

        if (request.ResponseFormat is { } format && !AudioFormats.All.Contains(format))
        {
            return OneOf("response_format", format, AudioFormats.All);
        }

        if (request.Speed is { } speed && (double.IsNaN(speed) || speed < MinSpeed || speed > MaxSpeed))
        {
            return ApiError.InvalidRequest(
                $"'speed' must be between {MinSpeed} and {MaxSpeed}; got {speed.ToString(CultureInfo.InvariantCulture)}.", "speed", "invalid_value");
        }

        if (request.StreamFormat is { } streamFormat && !StreamFormats.All.Contains(streamFormat))
        {
            return OneOf("stream_format", streamFormat, StreamFormats.All);
        }

        if (request.SampleRate is { } rate && !AudioFormats.SampleRates.Contains(rate))
        {
            return SampleRateNotOffered(rate.ToString(CultureInfo.InvariantCulture));
        }

        if (request.Language is "")
        {
            return ApiError.InvalidRequest("'language' must not be empty; leave it out to use the voice's own.", "language", "invalid_value");
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

    private static ApiError SampleRateNotOffered(string value) =>
        OneOf("sample_rate", value, AudioFormats.SampleRates.Select(r => r.ToString(CultureInfo.InvariantCulture)));

    private static int? FirstControlCharacter(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsControl(text[i]) && text[i] is not ('\t' or '\n' or '\v' or '\f' or '\r' or '\u0085'))
            {
                return i;
            }
        }

        return null;
    }

    /// <summary>
    /// Reads the whole body once without binding it: refuses empty bodies, bodies that are not one JSON object, broken
    /// syntax, nesting past <see cref="MaxDepth"/> and escapes that are not Unicode (a lone surrogate); notes the token
    /// of each top-level field so a type error can say what it got.
    /// </summary>
    private static ApiError? Scan(ReadOnlySpan<byte> json, Dictionary<string, FieldToken> fields)
    {
        if (json.Trim(" \t\r\n"u8).IsEmpty)
        {
            return ApiError.InvalidRequest("Request body is empty; send a JSON object.", null, "invalid_json");
        }

        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = MaxDepth });
        string? property = null;
        try
        {
            reader.Read();
            var root = reader.TokenType;
            if (root != JsonTokenType.StartObject)
            {
                // Read the rest too, so "[" is reported as broken JSON rather than as a non-object.
                reader.Skip();
                while (reader.Read())
                {
                }

                return ApiError.InvalidRequest($"Request body must be a JSON object, not {Describe(root)}.", null, "invalid_json");
            }

            while (reader.Read())
            {
                if (reader.CurrentDepth != 1)
                {
                    if (reader.TokenType == JsonTokenType.String && reader.ValueIsEscaped)
                    {
                        _ = reader.GetString();
                    }

                    continue;
                }

                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        property = reader.GetString();
                        break;
                    case JsonTokenType.EndArray or JsonTokenType.EndObject:
                        break;
                    default:
                        var raw = reader.TokenType == JsonTokenType.Number && reader.ValueSpan.Length <= 32
                            ? System.Text.Encoding.UTF8.GetString(reader.ValueSpan)
                            : null;
                        fields[property!] = new FieldToken(reader.TokenType, raw);
                        if (reader.TokenType == JsonTokenType.String && reader.ValueIsEscaped)
                        {
                            _ = reader.GetString();
                        }

                        break;
                }
            }
        }
        catch (JsonException ex)
        {
            var where = $"line {(ex.LineNumber ?? 0) + 1}, byte {(ex.BytePositionInLine ?? 0) + 1}";
            return reader.CurrentDepth >= MaxDepth - 1
                ? ApiError.InvalidRequest($"Request body is nested more than {MaxDepth} levels deep ({where}).", null, "invalid_json")
                : ApiError.InvalidRequest($"Request body is not valid JSON ({where}).", null, "invalid_json");
        }
        catch (InvalidOperationException)
        {
            // GetString refuses an escape that is not a Unicode scalar, such as "\ud800" alone.
            return ApiError.InvalidRequest(
                property is null ? "Request body contains an escape that is not valid Unicode." : $"'{property}' contains an escape that is not valid Unicode (a lone surrogate).",
                property,
                "invalid_encoding");
        }

        return null;
    }

    /// <param name="got">What the field holds, where its converter knew better than its token (a voice object's null id).</param>
    private static ApiError WrongType(string? param, Dictionary<string, FieldToken> fields, string? got)
    {
        if (param is null || !fields.TryGetValue(param, out var token))
        {
            return ApiError.InvalidRequest("Request body has a field of the wrong type.", param, "invalid_type");
        }

        // A number that is no whole 32-bit value (16000.5) is a value the field does not offer, not a type mistake.
        if (param == "sample_rate" && token.Type == JsonTokenType.Number)
        {
            return SampleRateNotOffered(token.Raw ?? "that number");
        }

        var expected = ExpectedTypes.GetValueOrDefault(param, "a string");
        return ApiError.InvalidRequest($"Invalid type for '{param}': expected {expected}, but got {got ?? Describe(token.Type)}.", param, "invalid_type");
    }

    internal static string Describe(JsonTokenType type) => type switch
    {
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.StartObject => "an object",
        JsonTokenType.Null => "null",
        _ => "something else",
    };

    private static string? ParamFromPath(string? path)
    {
        // System.Text.Json reports "$.field" (or "$.field[0]" inside a value) for a field of the wrong type.
        if (string.IsNullOrEmpty(path) || !path.StartsWith("$.", StringComparison.Ordinal))
        {
            return null;
        }

        var name = path[2..];
        var end = name.IndexOfAny(['.', '[']);
        return end < 0 ? name : name[..end];
    }

    private readonly record struct FieldToken(JsonTokenType Type, string? Raw);
}
