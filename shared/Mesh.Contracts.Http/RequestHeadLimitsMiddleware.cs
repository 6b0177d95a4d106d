using System.Buffers;
using System.Text;
using System.Text.Unicode;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Primitives;

namespace Mesh.Contracts.Http;

/// <summary>
/// Answers a request whose head is over the configured <see cref="RequestHeadLimits"/> (414, 431) or has a header value
/// that is not UTF-8 (400) with the error envelope, where Kestrel would answer with a bare status. It runs before
/// anything reads or adds a header, so it sees the head as the client sent it.
/// </summary>
public sealed class RequestHeadLimitsMiddleware(RequestDelegate next, RequestHeadLimits limits, Action<HttpContext, ApiError> refused)
{
    public Task InvokeAsync(HttpContext context)
    {
        if ((limits.Check(context.Request) ?? DecodeUtf8(context.Request.Headers)) is not { } error)
        {
            return next(context);
        }

        refused(context, error);
        // Like every answer, a refusal carries the request's id, which a host may only give once the head is checked.
        context.Response.Headers.TryAdd(MeshHeaders.RequestId, RequestIds.FromHeader(context.Request.Headers[MeshHeaders.RequestId]));
        return ApiResults.WriteErrorAsync(context, error);
    }

    /// <summary>
    /// Kestrel reads header values byte for byte (Latin-1, see <see cref="ServerLimits"/>); this puts each value back as
    /// the UTF-8 text Kestrel would have decoded by default, or returns the error for the first that is not UTF-8.
    /// </summary>
    private static ApiError? DecodeUtf8(IHeaderDictionary headers)
    {
        List<KeyValuePair<string, StringValues>>? decoded = null;
        foreach (var (name, values) in headers)
        {
            if (IsAscii(values))
            {
                continue;
            }

            var text = new string?[values.Count];
            for (var i = 0; i < values.Count; i++)
            {
                var bytes = Encoding.Latin1.GetBytes(values[i] ?? string.Empty);
                var chars = new char[bytes.Length];
                if (Utf8.ToUtf16(bytes, chars, out var read, out var written, replaceInvalidSequences: false) != OperationStatus.Done)
                {
                    return ApiError.InvalidRequest(
                        $"The value of the header '{name}' is not UTF-8: byte {read} (0x{bytes[read]:X2}) does not start a valid sequence.", name, "invalid_encoding");
                }

                text[i] = new string(chars, 0, written);
            }

            (decoded ??= []).Add(new(name, new StringValues(text)));
        }

        foreach (var (name, values) in decoded ?? [])
        {
            headers[name] = values;
        }

        return null;
    }

    // A loop over the struct enumerator: LINQ on StringValues would box it for every header of every request.
    private static bool IsAscii(StringValues values)
    {
        foreach (var value in values)
        {
            if (value is not null && !Ascii.IsValid(value))
            {
                return false;
            }
        }

        return true;
    }
}

public static class RequestHeadLimitsExtensions
{
    /// <summary>
    /// Enforces the configured head limits with the error envelope. <paramref name="refused"/> is told of each refusal,
    /// for a host that counts its answers where they are given rather than around the whole pipeline.
    /// </summary>
    public static IApplicationBuilder UseRequestHeadLimits(this IApplicationBuilder app, Action<HttpContext, ApiError>? refused = null) =>
        app.UseMiddleware<RequestHeadLimitsMiddleware>(
            RequestHeadLimits.Configured(app.ApplicationServices.GetRequiredService<IConfiguration>()), refused ?? ((_, _) => { }));
}
