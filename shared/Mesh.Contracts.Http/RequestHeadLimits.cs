using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;

namespace Mesh.Contracts.Http;

/// <summary>
/// The request head limits of <c>Kestrel:Limits</c> as the API enforces them, with the error envelope
/// (<see cref="RequestHeadLimitsMiddleware"/>). Kestrel itself gets twice the room: its own answer to a head over its
/// limits is a bare status with no body.
/// </summary>
public sealed record RequestHeadLimits(int MaxRequestLineSize, int MaxRequestHeadersTotalSize, int MaxRequestHeaderCount)
{
    /// <summary>The limits <c>Kestrel:Limits</c> sets, Kestrel's defaults for those it leaves out.</summary>
    public static RequestHeadLimits Configured(IConfiguration configuration)
    {
        var limits = new KestrelServerLimits();
        ServerLimits.Apply(configuration.GetSection(ServerLimits.Section), limits);
        return Of(limits);
    }

    public static RequestHeadLimits Of(KestrelServerLimits limits) =>
        new(limits.MaxRequestLineSize, limits.MaxRequestHeadersTotalSize, limits.MaxRequestHeaderCount);

    /// <summary>Sets Kestrel's own head limits to twice these, so that a head up to that size is parsed and reaches <see cref="Check"/>.</summary>
    public void WidenForKestrel(KestrelServerLimits kestrel)
    {
        // Kestrel does not start unless its request buffer holds a whole request line and a whole header block.
        var buffer = kestrel.MaxRequestBufferSize ?? long.MaxValue;
        kestrel.MaxRequestLineSize = Twice(MaxRequestLineSize, buffer);
        kestrel.MaxRequestHeadersTotalSize = Twice(MaxRequestHeadersTotalSize, buffer);
        kestrel.MaxRequestHeaderCount = Twice(MaxRequestHeaderCount, int.MaxValue);
    }

    /// <summary>
    /// The error for a head over a limit, or null. Sizes are counted as Kestrel counts an HTTP/1.1 head: the request
    /// line <c>METHOD target version</c> and each <c>Name: value</c> line, with their CRLF.
    /// </summary>
    public ApiError? Check(HttpRequest request)
    {
        var target = request.HttpContext.Features.GetRequiredFeature<IHttpRequestFeature>().RawTarget;
        var lineBytes = request.Method.Length + 1 + target.Length + 1 + request.Protocol.Length + 2;
        if (lineBytes > MaxRequestLineSize)
        {
            return new(
                StatusCodes.Status414RequestUriTooLong,
                $"The request line is {lineBytes} bytes long; this server's limit (MaxRequestLineSize) is {MaxRequestLineSize} bytes.",
                ErrorTypes.InvalidRequest, null, "request_line_too_long");
        }

        var (count, headerBytes) = (0, 0L);
        foreach (var (name, values) in request.Headers)
        {
            count += values.Count;
            foreach (var value in values)
            {
                headerBytes += name.Length + 2 + (value?.Length ?? 0) + 2;
            }
        }

        if (count > MaxRequestHeaderCount)
        {
            return HeadersTooLarge($"The request has {count} header lines; this server's limit (MaxRequestHeaderCount) is {MaxRequestHeaderCount}.");
        }

        return headerBytes > MaxRequestHeadersTotalSize
            ? HeadersTooLarge($"The request headers are {headerBytes} bytes long; this server's limit (MaxRequestHeadersTotalSize) is {MaxRequestHeadersTotalSize} bytes.")
            : null;
    }

    private static ApiError HeadersTooLarge(string message) =>
        new(StatusCodes.Status431RequestHeaderFieldsTooLarge, message, ErrorTypes.InvalidRequest, null, "request_headers_too_large");

    // A limit Kestrel would refuse at start (over the buffer) stays as configured, so it still does.
    private static int Twice(int limit, long cap) => (int)Math.Min(int.MaxValue, Math.Max(limit, Math.Min(2L * limit, cap)));
}
