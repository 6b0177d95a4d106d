using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Mesh.Contracts.Http;

/// <summary>
/// The declared types a JSON request body is read under: <c>application/json</c> or a <c>+json</c> type, with any
/// parameters, in UTF-8, with no content coding and no transfer coding but chunked. RFC 8259 makes JSON UTF-8, so a <c>charset</c> may say so and any
/// other is refused rather than misread as UTF-8. No <c>Content-Type</c> at all (curl without -H) is read as JSON.
/// </summary>
public static class JsonBodyContentType
{
    /// <summary>Null when the body of <paramref name="request"/> is read as JSON; else the 415 that refuses it.</summary>
    public static ApiError? Refusal(HttpRequest request)
    {
        if (TransferCodingRefusal(request) is { } transferCoding)
        {
            return transferCoding;
        }

        // A compressed body is refused for its coding, before its bytes are judged: read as they are, gzip was
        // answered "not valid UTF-8", and a plain body labelled gzip was served.
        var coding = request.Headers.ContentEncoding.ToString();
        if (coding.Length > 0 && !coding.Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            return ApiError.UnsupportedMediaType(
                $"Content-Encoding '{coding}' is not supported; send the JSON body uncompressed (no Content-Encoding).", "unsupported_content_encoding");
        }

        return TypeRefusal(request.ContentType);
    }

    /// <summary>
    /// Null unless the body comes in a transfer coding besides <c>chunked</c>: the server takes chunked framing off and
    /// nothing else, so a gzip-coded body reached the parser compressed and was answered "not valid UTF-8". 415, as for
    /// a <c>Content-Encoding</c>, rather than the 501 RFC 9112 §6.1 suggests: the fault is the client's, and a 5xx would
    /// count as a server error on the error-ratio alert and be retried by the OpenAI SDKs. The gateway checks it before
    /// proxying, since the proxy re-frames the body and the coding would not reach the backend.
    /// </summary>
    public static ApiError? TransferCodingRefusal(HttpRequest request)
    {
        var codings = request.Headers.TransferEncoding.ToString();
        return codings.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .All(coding => coding.Equals("chunked", StringComparison.OrdinalIgnoreCase))
            ? null
            : new ApiError(
                StatusCodes.Status415UnsupportedMediaType,
                $"Transfer-Encoding '{codings}' is not supported; send the JSON body with Content-Length or 'Transfer-Encoding: chunked' alone.",
                ErrorTypes.InvalidRequest,
                null,
                "unsupported_transfer_encoding");
    }

    private static ApiError? TypeRefusal(string? contentType)
    {
        if (contentType is null)
        {
            return null;
        }

        if (!MediaTypeHeaderValue.TryParse(contentType, out var media) || !IsJson(media))
        {
            return ApiError.UnsupportedMediaType($"Content-Type '{contentType}' is not supported; send 'application/json'.", "unsupported_media_type");
        }

        var charset = HeaderUtilities.RemoveQuotes(media.Charset);
        return charset.HasValue && !IsUtf8(charset)
            ? ApiError.UnsupportedMediaType(
                $"Charset '{charset}' is not supported; send the JSON body in UTF-8 ('application/json; charset=utf-8', or no charset).", "unsupported_charset")
            : null;
    }

    /// <summary>UTF-8 by its registered name, or the common <c>utf8</c> that encoding libraries take for it.</summary>
    private static bool IsUtf8(StringSegment charset) =>
        StringSegment.Equals(charset, "utf-8", StringComparison.OrdinalIgnoreCase) || StringSegment.Equals(charset, "utf8", StringComparison.OrdinalIgnoreCase);

    /// <summary>Not a look-alike such as <c>application/jsonp</c>.</summary>
    private static bool IsJson(MediaTypeHeaderValue media) =>
        media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase) || media.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase);
}
