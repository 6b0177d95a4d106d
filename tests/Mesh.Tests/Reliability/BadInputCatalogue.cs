using System.IO.Compression;
using System.Text;
using Mesh.Contracts;

namespace Mesh.Tests.Reliability;

/// <summary>Where a case is sent: through the gateway, or to a backend directly for what the gateway answers first.</summary>
public enum Target
{
    Gateway,
    Backend,
}

/// <summary>One bad HTTP request and the precise answer it must get (and its message and <c>Allow</c>, where the case fixes them).</summary>
public sealed record HttpCase(
    string Name,
    string Method,
    string Path,
    byte[]? Body,
    int Status,
    string? Param,
    string? Code,
    string Type = ErrorTypes.InvalidRequest,
    string? ContentType = "application/json",
    Target Target = Target.Gateway,
    bool Chunked = false,
    IReadOnlyDictionary<string, string>? Headers = null,
    string? Message = null,
    string? Allow = null)
{
    public override string ToString() => Name;
}

/// <summary>
/// The catalogue of bad HTTP requests, by endpoint. Every case names the status, <c>param</c> and <c>code</c> it must
/// get; the body must be the envelope.
/// </summary>
public static class BadInputCatalogue
{
    public const string Speech = "/v1/audio/speech";
    public const string SentenceStream = "/v1/audio/speech/stream";
    public const string PcmStream = "/v1/audio/speech/stream/pcm";

    /// <summary>Inputs of marks that only shape a sentence or that espeak reads as nothing: nothing to speak.</summary>
    public static readonly string[] NothingToSpeak = ["...", "?!", " - ", "()", "«…»", "。、", "___", "•"];

    /// <summary>Just over the body limit; the text is valid, only its size is wrong.</summary>
    public static readonly string OversizedBody = Json(new string('a', SpeechRequestParser.MaxBodyBytes + 16));

    public static IReadOnlyList<HttpCase> All { get; } = [.. Build()];

    public static HttpCase Find(string name) => All.Single(c => c.Name == name);

    private static IEnumerable<HttpCase> Build()
    {
        foreach (var c in SpeechCases())
        {
            yield return c;
        }

        foreach (var c in StreamCases())
        {
            yield return c;
        }

        foreach (var c in CatalogAndPathCases())
        {
            yield return c;
        }

        foreach (var c in BackendCases())
        {
            yield return c;
        }
    }

    private static IEnumerable<HttpCase> SpeechCases()
    {
        // Malformed and non-object JSON.
        yield return Bad("speech: unclosed array", Speech, "[", null, "invalid_json");
        yield return Bad("speech: empty array", Speech, "[]", null, "invalid_json");
        yield return Bad("speech: a string", Speech, "\"x\"", null, "invalid_json");
        yield return Bad("speech: null", Speech, "null", null, "invalid_json");
        yield return Bad("speech: a number", Speech, "42", null, "invalid_json");
        yield return Bad("speech: empty body", Speech, "", null, "invalid_json");
        yield return Bad("speech: truncated object", Speech, """{"model":"tts-1","voice":""", null, "invalid_json");
        yield return Bad("speech: trailing garbage", Speech, Body() + " x", null, "invalid_json");
        yield return Bad("speech: trailing comma", Speech, """{"model":"tts-1","voice":"alloy","input":"Hi.",}""", null, "invalid_json");
        yield return Bad("speech: nested 70 deep", Speech, $$"""{"model":"tts-1","voice":"alloy","input":"Hi.","x":{{new string('[', 70)}}{{new string(']', 70)}}}""", null, "invalid_json");

        // Wrong types, one per field.
        yield return Bad("speech: model is a number", Speech, """{"model":42,"voice":"alloy","input":"Hi."}""", "model", "invalid_type");
        yield return Bad("speech: input is a number", Speech, """{"model":"tts-1","voice":"alloy","input":42}""", "input", "invalid_type");
        yield return Bad("speech: input is an array", Speech, """{"model":"tts-1","voice":"alloy","input":["Hi."]}""", "input", "invalid_type");
        yield return Bad("speech: voice is a boolean", Speech, """{"model":"tts-1","voice":true,"input":"Hi."}""", "voice", "invalid_type");
        yield return Bad("speech: voice object with a null id", Speech, """{"model":"tts-1","voice":{"id":null},"input":"Hi."}""", "voice", "invalid_type") with
        {
            Message = "Invalid type for 'voice': expected a string or an object with a string 'id', but got an object whose 'id' is null.",
        };
        yield return Bad("speech: response_format is an object", Speech, """{"model":"tts-1","voice":"alloy","input":"Hi.","response_format":{}}""", "response_format", "invalid_type");
        yield return Bad("speech: speed is a string", Speech, Body("\"speed\":\"fast\""), "speed", "invalid_type");
        yield return Bad("speech: stream_format is a number", Speech, Body("\"stream_format\":1"), "stream_format", "invalid_type");
        yield return Bad("speech: sample_rate is a string", Speech, Body("\"sample_rate\":\"22050\""), "sample_rate", "invalid_type");
        yield return Bad("speech: language is an array", Speech, Body("\"language\":[\"en\"]"), "language", "invalid_type");
        yield return Bad("speech: priority is a boolean", Speech, Body("\"priority\":false"), "priority", "invalid_type");
        yield return Bad("speech: instructions is a number", Speech, Body("\"instructions\":5"), "instructions", "invalid_type");

        // Missing and empty fields, whitespace, length.
        yield return Bad("speech: model missing", Speech, """{"voice":"alloy","input":"Hi."}""", "model", "missing_required_parameter");
        yield return Bad("speech: input missing", Speech, """{"model":"tts-1","voice":"alloy"}""", "input", "missing_required_parameter");
        yield return Bad("speech: voice missing", Speech, """{"model":"tts-1","input":"Hi."}""", "voice", "missing_required_parameter");
        yield return Bad("speech: input null", Speech, """{"model":"tts-1","voice":"alloy","input":null}""", "input", "missing_required_parameter");
        yield return Bad("speech: empty object", Speech, "{}", "input", "missing_required_parameter");
        yield return Bad("speech: model empty", Speech, """{"model":"","voice":"alloy","input":"Hi."}""", "model", "invalid_value");
        yield return Bad("speech: input empty", Speech, """{"model":"tts-1","voice":"alloy","input":""}""", "input", "invalid_value");
        yield return Bad("speech: voice empty", Speech, """{"model":"tts-1","voice":"","input":"Hi."}""", "voice", "invalid_value") with { Message = "'voice' must not be empty." };
        yield return Bad("speech: input whitespace only", Speech, """{"model":"tts-1","voice":"alloy","input":" \n\t\u3000 "}""", "input", "nothing_to_speak");
        foreach (var punctuation in NothingToSpeak)
        {
            yield return Bad($"speech: input {punctuation}", Speech, Json(punctuation), "input", "nothing_to_speak");
            yield return Bad($"speech sse: input {punctuation}", Speech, Json(punctuation, "\"stream_format\":\"sse\""), "input", "nothing_to_speak");
        }

        yield return Bad("speech: input 4097 characters", Speech, Json(new string('a', 4097)), "input", "string_above_max_length");
        yield return Bad("speech: input 4097 astral characters", Speech, Json(string.Concat(Enumerable.Repeat("\U0001F600", 4097))), "input", "string_above_max_length");
        yield return Bad("speech: instructions 4097 characters", Speech, Body($"\"instructions\":\"{new string('a', 4097)}\""), "instructions", "string_above_max_length");
        yield return new HttpCase("speech: body over the limit", "POST", Speech, Utf8(OversizedBody), 413, null, "request_too_large");
        yield return new HttpCase("speech: chunked body over the limit", "POST", Speech, Utf8(OversizedBody), 413, null, "request_too_large", Chunked: true);

        // Values out of range or unknown.
        yield return Bad("speech: speed too low", Speech, Body("\"speed\":0.24"), "speed", "invalid_value");
        yield return Bad("speech: speed too high", Speech, Body("\"speed\":4.01"), "speed", "invalid_value");
        yield return Bad("speech: speed negative", Speech, Body("\"speed\":-1"), "speed", "invalid_value");
        yield return Bad("speech: speed overflows to infinity", Speech, Body("\"speed\":1e400"), "speed", "invalid_value");
        yield return Bad("speech: sample_rate not offered", Speech, Body("\"sample_rate\":11025"), "sample_rate", "invalid_value");
        yield return Bad("speech: sample_rate zero", Speech, Body("\"sample_rate\":0"), "sample_rate", "invalid_value");
        yield return Bad("speech: sample_rate fractional", Speech, Body("\"sample_rate\":22050.5"), "sample_rate", "invalid_value");
        yield return Bad("speech: sample_rate beyond 32 bits", Speech, Body("\"sample_rate\":99999999999999999999"), "sample_rate", "invalid_value");
        yield return Bad("speech: opus cannot carry 22050 Hz", Speech, Body("\"response_format\":\"opus\",\"sample_rate\":22050"), "sample_rate", "unsupported_value");
        yield return Bad("speech: response_format unknown", Speech, """{"model":"tts-1","voice":"alloy","input":"Hi.","response_format":"ogg"}""", "response_format", "invalid_value");
        yield return Bad("speech: response_format empty", Speech, """{"model":"tts-1","voice":"alloy","input":"Hi.","response_format":""}""", "response_format", "invalid_value");
        yield return Bad("speech: stream_format unknown", Speech, Body("\"stream_format\":\"chunks\""), "stream_format", "invalid_value");
        yield return Bad("speech: priority unknown", Speech, Body("\"priority\":\"urgent\""), "priority", "invalid_value");
        yield return Bad("speech: language empty", Speech, Body("\"language\":\"\""), "language", "invalid_value");
        yield return NotFound("speech: voice unknown", Speech, """{"model":"tts-1","voice":"nobody","input":"Hi."}""", "voice", "voice_not_found");
        yield return NotFound("speech: voice whitespace", Speech, """{"model":"tts-1","voice":"   ","input":"Hi."}""", "voice", "voice_not_found");
        yield return NotFound("speech: model unknown", Speech, """{"model":"tts-9","voice":"alloy","input":"Hi."}""", "model", "model_not_found");
        yield return NotFound("speech: language unknown", Speech, Body("\"language\":\"xx-unknown\""), "language", "voice_not_found");
        yield return NotFound("speech: voice unknown with a known language", Speech, """{"model":"tts-1","voice":"nobody","input":"Hi.","language":"en"}""", "voice", "voice_not_found");
        yield return NotFound("speech: voice in another language", Speech, """{"model":"tts-1","voice":"de","input":"Hi.","language":"en"}""", "language", "voice_not_found");
        yield return WithHeader(Bad("speech: X-Priority unknown", Speech, Body(), MeshHeaders.Priority, "invalid_value"), MeshHeaders.Priority, "urgent");
        yield return WithHeader(Bad("speech: X-Priority empty", Speech, Body(), MeshHeaders.Priority, "invalid_value"), MeshHeaders.Priority, "");
        yield return WithHeader(Bad("speech: X-Priority wrong case", Speech, Body(), MeshHeaders.Priority, "invalid_value"), MeshHeaders.Priority, "Realtime");
        yield return WithHeader(Bad("speech: X-Mesh-Variant unknown", Speech, Body(), MeshHeaders.Variant, "unknown_variant"), MeshHeaders.Variant, "nope");

        // Names that look like paths are looked up in known sets, never on disk.
        yield return NotFound("speech: voice ../../etc/passwd", Speech, """{"model":"tts-1","voice":"../../etc/passwd","input":"Hi."}""", "voice", "voice_not_found");
        yield return NotFound("speech: voice %2e%2e%2f", Speech, """{"model":"tts-1","voice":"%2e%2e%2f%2e%2e%2fetc%2fpasswd","input":"Hi."}""", "voice", "voice_not_found");
        yield return NotFound("speech: voice absolute path", Speech, """{"model":"tts-1","voice":"/etc/passwd","input":"Hi."}""", "voice", "voice_not_found");
        yield return NotFound("speech: voice windows path", Speech, """{"model":"tts-1","voice":"C:\\Windows\\win.ini","input":"Hi."}""", "voice", "voice_not_found");
        yield return NotFound("speech: voice with NUL", Speech, """{"model":"tts-1","voice":"alloy\u0000.bin","input":"Hi."}""", "voice", "voice_not_found");
        yield return NotFound("speech: model path", Speech, """{"model":"../../etc/passwd","voice":"alloy","input":"Hi."}""", "model", "model_not_found");
        yield return NotFound("speech: language path", Speech, Body("\"language\":\"../../../etc/passwd\""), "language", "voice_not_found");

        // Encoding and characters.
        yield return new HttpCase("speech: invalid UTF-8 bytes", "POST", Speech, [.. "{\"model\":\"tts-1\",\"voice\":\"alloy\",\"input\":\"H"u8, 0xFF, 0xFE, .. "i\"}"u8], 400, null, "invalid_encoding");
        yield return new HttpCase("speech: overlong UTF-8 slash", "POST", Speech, [.. "{\"model\":\"tts-1\",\"voice\":\"alloy\",\"input\":\"a"u8, 0xC0, 0xAF, .. "\"}"u8], 400, null, "invalid_encoding");
        yield return Bad("speech: lone surrogate escape", Speech, """{"model":"tts-1","voice":"alloy","input":"\ud800"}""", "input", "invalid_encoding");
        yield return Bad("speech: lone surrogate in priority", Speech, Body("\"priority\":\"\\ud800\""), "priority", "invalid_encoding");
        yield return Bad("speech: lone surrogate in stream_format", Speech, Body("\"stream_format\":\"\\udfff\""), "stream_format", "invalid_encoding");
        yield return Bad("speech: lone NUL input", Speech, """{"model":"tts-1","voice":"alloy","input":"\u0000"}""", "input", "invalid_characters");
        yield return Bad("speech: NUL inside input", Speech, """{"model":"tts-1","voice":"alloy","input":"Hello\u0000world."}""", "input", "invalid_characters");
        yield return Bad("speech: escape and bell in input", Speech, """{"model":"tts-1","voice":"alloy","input":"Hi \u001b[31m there\u0007."}""", "input", "invalid_characters");
        yield return Bad("speech: C1 control in input", Speech, """{"model":"tts-1","voice":"alloy","input":"Hi\u009bthere."}""", "input", "invalid_characters");

        // Content type and method.
        yield return new HttpCase("speech: text/plain", "POST", Speech, Utf8(Body()), 415, null, "unsupported_media_type", ContentType: "text/plain");
        yield return new HttpCase("speech: form encoded", "POST", Speech, Utf8(Body()), 415, null, "unsupported_media_type", ContentType: "application/x-www-form-urlencoded");
        yield return new HttpCase("speech: application/jsonp look-alike", "POST", Speech, Utf8(Body()), 415, null, "unsupported_media_type", ContentType: "application/jsonp");
        yield return new HttpCase("speech: multipart", "POST", Speech, Utf8(Body()), 415, null, "unsupported_media_type", ContentType: "multipart/form-data; boundary=x");
        yield return new HttpCase("speech: charset iso-8859-1", "POST", Speech, Latin1(Body()), 415, null, "unsupported_charset", ContentType: "application/json; charset=iso-8859-1");
        yield return new HttpCase("speech: charset utf-16", "POST", Speech, Encoding.Unicode.GetBytes(Body()), 415, null, "unsupported_charset", ContentType: "application/json; charset=utf-16");
        yield return WithHeader(new HttpCase("speech: gzip body", "POST", Speech, Gzip(Body()), 415, null, "unsupported_content_encoding"), "Content-Encoding", "gzip");
        yield return WithHeader(new HttpCase("speech: plain body labelled gzip", "POST", Speech, Utf8(Body()), 415, null, "unsupported_content_encoding"), "Content-Encoding", "gzip");
        yield return WithHeader(new HttpCase("speech: deflate body", "POST", Speech, Deflate(Body()), 415, null, "unsupported_content_encoding"), "Content-Encoding", "deflate");
        yield return Method("speech: GET", "GET", Speech);
        yield return Method("speech: PUT", "PUT", Speech);
        yield return Method("speech: DELETE", "DELETE", Speech);
        yield return Method("speech: OPTIONS", "OPTIONS", Speech);

        // stream_format values: refusals come before any event, as plain JSON.
        yield return Bad("speech sse: speed too high", Speech, Body("\"stream_format\":\"sse\",\"speed\":9"), "speed", "invalid_value");
        yield return NotFound("speech sse: voice unknown", Speech, """{"model":"tts-1","voice":"nobody","input":"Hi.","stream_format":"sse"}""", "voice", "voice_not_found");
        yield return Bad("speech sse: input empty", Speech, """{"model":"tts-1","voice":"alloy","input":"","stream_format":"sse"}""", "input", "invalid_value");
        yield return WithHeader(Bad("speech sse: X-Priority unknown", Speech, Body("\"stream_format\":\"sse\""), MeshHeaders.Priority, "invalid_value"), MeshHeaders.Priority, "high");
        yield return Bad("speech audio: response_format unknown", Speech, Body("\"stream_format\":\"audio\",\"response_format\":\"ogg\""), "response_format", "invalid_value");
        yield return NotFound("speech audio: model unknown", Speech, """{"model":"tts-9","voice":"alloy","input":"Hi.","stream_format":"audio"}""", "model", "model_not_found");
    }

    private static IEnumerable<HttpCase> StreamCases()
    {
        foreach (var (path, label) in new[] { (SentenceStream, "stream"), (PcmStream, "stream/pcm") })
        {
            yield return Bad($"{label}: unclosed object", path, "{", null, "invalid_json");
            yield return Bad($"{label}: null", path, "null", null, "invalid_json");
            yield return Bad($"{label}: input whitespace only", path, """{"voice":"alloy","input":"   "}""", "input", "nothing_to_speak");
            foreach (var punctuation in NothingToSpeak)
            {
                yield return Bad($"{label}: input {punctuation}", path, Json(punctuation), "input", "nothing_to_speak");
            }

            yield return Bad($"{label}: input 4097 characters", path, Json(new string('a', 4097)), "input", "string_above_max_length");
            yield return Bad($"{label}: sample_rate wrong type", path, """{"voice":"alloy","input":"Hi.","sample_rate":true}""", "sample_rate", "invalid_type");
            yield return Bad($"{label}: sample_rate not offered", path, """{"voice":"alloy","input":"Hi.","sample_rate":12345}""", "sample_rate", "invalid_value");
            // The surface sends PCM whatever the format says, but a format that is none of them is still a mistake.
            yield return Bad($"{label}: response_format unknown", path, """{"voice":"alloy","input":"Hi.","response_format":"ogg"}""", "response_format", "invalid_value");
            yield return Bad($"{label}: speed too low", path, """{"voice":"alloy","input":"Hi.","speed":0.1}""", "speed", "invalid_value");
            yield return Bad($"{label}: NUL in input", path, """{"voice":"alloy","input":"a\u0000b"}""", "input", "invalid_characters");
            yield return NotFound($"{label}: voice path", path, """{"voice":"../../etc/passwd","input":"Hi."}""", "voice", "voice_not_found");
            yield return NotFound($"{label}: model unknown", path, """{"model":"tts-9","voice":"alloy","input":"Hi."}""", "model", "model_not_found");
            yield return new HttpCase($"{label}: body over the limit", "POST", path, Utf8(OversizedBody), 413, null, "request_too_large");
            yield return new HttpCase($"{label}: text/plain", "POST", path, Utf8(Body()), 415, null, "unsupported_media_type", ContentType: "text/plain");
            yield return new HttpCase($"{label}: charset utf-16", "POST", path, Encoding.Unicode.GetBytes(Body()), 415, null, "unsupported_charset", ContentType: "application/json; charset=utf-16");
            yield return WithHeader(new HttpCase($"{label}: gzip body", "POST", path, Gzip(Body()), 415, null, "unsupported_content_encoding"), "Content-Encoding", "gzip");
            yield return Method($"{label}: GET", "GET", path);
            yield return WithHeader(Bad($"{label}: X-Priority unknown", path, """{"voice":"alloy","input":"Hi."}""", MeshHeaders.Priority, "invalid_value"), MeshHeaders.Priority, "now");
            yield return WithHeader(Bad($"{label}: X-Mesh-Variant unknown", path, """{"voice":"alloy","input":"Hi."}""", MeshHeaders.Variant, "unknown_variant"), MeshHeaders.Variant, "../b");
        }
    }

    private static IEnumerable<HttpCase> CatalogAndPathCases()
    {
        yield return Method("models: POST", "POST", "/v1/models", "{}");
        yield return Method("models: DELETE", "DELETE", "/v1/models");
        yield return Method("voices: POST", "POST", "/v1/audio/voices", "{}");
        yield return Method("voices: PUT", "PUT", "/v1/audio/voices", "{}");
        yield return Unknown("voices: a voice as a sub-path", "/v1/audio/voices/alloy");
        yield return Unknown("voices: encoded traversal", "/v1/audio/voices/..%2f..%2fetc%2fpasswd");
        yield return new HttpCase("models: encoded traversal", "GET", "/v1/models/%2e%2e%2f%2e%2e%2fetc%2fpasswd", null, 404, "model", "model_not_found");
        yield return new HttpCase("models: an unknown id", "GET", "/v1/models/tts-9", null, 404, "model", "model_not_found");
        yield return Method("models: DELETE one", "DELETE", "/v1/models/tts-1");
        yield return Unknown("models: below a model", "/v1/models/tts-1/voices");
        yield return Unknown("unknown: /v1/nothing", "/v1/nothing");
        yield return Unknown("unknown: /etc/passwd", "/etc/passwd");
        yield return Unknown("unknown: a file-like path", "/v1/audio/speech.json");
        yield return Unknown("unknown: under the speech route", "/v1/audio/speech/nothing", "POST");
        yield return Unknown("unknown: OpenAI's path without /v1", "/audio/speech", "POST");
        // Routing takes one trailing slash, not two: no method is served there, so none is offered in an Allow.
        yield return Unknown("unknown: a model with two trailing slashes", "/v1/models/tts-1//", "DELETE");
        yield return Unknown("unknown: the models with two trailing slashes", "/v1/models//", "PUT");
        yield return new HttpCase("ws: plain GET on /ws", "GET", "/ws", null, 426, null, "websocket_required", ContentType: null);
        yield return new HttpCase("ws: plain GET on /v1/audio/speech/ws", "GET", "/v1/audio/speech/ws", null, 426, null, "websocket_required", ContentType: null);
        yield return Method("ws: POST on /ws", "POST", "/ws", Body()) with { Allow = HttpMethod.Get.Method };
        yield return Method("ws: PUT on /v1/audio/speech/ws", "PUT", "/v1/audio/speech/ws", Body()) with { Allow = HttpMethod.Get.Method };
    }

    /// <summary>What the gateway refuses before forwarding, checked once more where the backend itself is the first to see it.</summary>
    private static IEnumerable<HttpCase> BackendCases()
    {
        yield return WithHeader(Bad("backend: X-Priority unknown", Speech, Body(), MeshHeaders.Priority, "invalid_value") with { Target = Target.Backend }, MeshHeaders.Priority, "urgent");
        yield return new HttpCase("backend: body over the limit", "POST", Speech, Utf8(OversizedBody), 413, null, "request_too_large", Target: Target.Backend);
        yield return new HttpCase("backend: chunked body over the limit", "POST", Speech, Utf8(OversizedBody), 413, null, "request_too_large", Target: Target.Backend, Chunked: true);
        yield return Method("backend: GET speech", "GET", Speech) with { Target = Target.Backend };
        yield return Method("backend: POST models", "POST", "/v1/models", "{}") with { Target = Target.Backend };
        yield return new HttpCase("backend: an unknown model id", "GET", "/v1/models/tts-9", null, 404, "model", "model_not_found", Target: Target.Backend);
        yield return Method("backend: POST metrics", "POST", "/metrics") with { Target = Target.Backend };
        yield return new HttpCase("backend: plain GET on /ws", "GET", "/ws", null, 426, null, "websocket_required", ContentType: null, Target: Target.Backend);
        yield return Method("backend: POST on /ws", "POST", "/ws", Body()) with { Target = Target.Backend, Allow = HttpMethod.Get.Method };
        yield return Method("backend: DELETE on /v1/audio/speech/ws", "DELETE", "/v1/audio/speech/ws") with { Target = Target.Backend, Allow = HttpMethod.Get.Method };
        yield return Unknown("backend: unknown path", "/v1/nothing") with { Target = Target.Backend };
        yield return Unknown("backend: OpenAI's path without /v1", "/audio/speech", "POST") with { Target = Target.Backend };
        yield return Unknown("backend: a model with two trailing slashes", "/v1/models/tts-1//", "DELETE") with { Target = Target.Backend };
        yield return Bad("backend: unclosed array", Speech, "[", null, "invalid_json") with { Target = Target.Backend };
        yield return new HttpCase("backend: text/plain", "POST", PcmStream, Utf8(Body()), 415, null, "unsupported_media_type", ContentType: "text/plain", Target: Target.Backend);
        yield return new HttpCase("backend: charset iso-8859-1", "POST", Speech, Latin1(Body()), 415, null, "unsupported_charset", ContentType: "application/json; charset=iso-8859-1", Target: Target.Backend);
        yield return WithHeader(new HttpCase("backend: gzip body", "POST", Speech, Gzip(Body()), 415, null, "unsupported_content_encoding", Target: Target.Backend), "Content-Encoding", "gzip");
    }

    /// <summary>A valid request body with extra fields spliced in.</summary>
    public static string Body(string extra = "") =>
        "{\"model\":\"tts-1\",\"voice\":\"alloy\",\"input\":\"Hi.\",\"response_format\":\"pcm\"" + (extra.Length > 0 ? "," + extra : "") + "}";

    private static string Json(string input, string extra = "") =>
        "{\"model\":\"tts-1\",\"voice\":\"alloy\",\"input\":\"" + input + "\"" + (extra.Length > 0 ? "," + extra : "") + "}";

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static byte[] Latin1(string text) => Encoding.Latin1.GetBytes(text);

    private static byte[] Gzip(string text) => Compressed(text, stream => new GZipStream(stream, CompressionLevel.Fastest));

    private static byte[] Deflate(string text) => Compressed(text, stream => new ZLibStream(stream, CompressionLevel.Fastest));

    private static byte[] Compressed(string text, Func<Stream, Stream> compressor)
    {
        using var output = new MemoryStream();
        using (var compressing = compressor(output))
        {
            compressing.Write(Utf8(text));
        }

        return output.ToArray();
    }

    private static HttpCase Bad(string name, string path, string body, string? param, string code) =>
        new(name, "POST", path, Utf8(body), 400, param, code);

    private static HttpCase NotFound(string name, string path, string body, string param, string code) =>
        new(name, "POST", path, Utf8(body), 404, param, code);

    private static HttpCase Method(string name, string method, string path, string? body = null) =>
        new(name, method, path, body is null ? null : Utf8(body), 405, null, "method_not_allowed", ContentType: body is null ? null : "application/json");

    /// <summary>An unknown path: the message names the method and the path as sent.</summary>
    private static HttpCase Unknown(string name, string path, string method = "GET") =>
        new(name, method, path, method == "GET" ? null : Utf8(Body()), 404, null, "unknown_url", ContentType: method == "GET" ? null : "application/json",
            Message: $"No such endpoint: {method} {path}.");

    private static HttpCase WithHeader(HttpCase c, string name, string value) =>
        c with { Headers = new Dictionary<string, string>(c.Headers ?? new Dictionary<string, string>()) { [name] = value } };
}
