using Mesh.Contracts.Http;
using Microsoft.AspNetCore.Diagnostics;

namespace Mesh.Backend.Host;

/// <summary>
/// Gives routing's own answers the API's envelope: an unknown path (404) and a known path with the wrong method (405,
/// whose <c>Allow</c> header routing has set) would otherwise be bare status codes.
/// </summary>
public static class EmptyErrors
{
    public static Task WriteEnvelopeAsync(StatusCodeContext status)
    {
        var context = status.HttpContext;
        return context.Response.StatusCode switch
        {
            StatusCodes.Status404NotFound => ApiResults.WriteErrorAsync(context, ApiResults.UnknownUrl(context.Request)),
            StatusCodes.Status405MethodNotAllowed => ApiResults.WriteErrorAsync(
                context, ApiResults.MethodNotAllowed(context.Request.Method, context.Request.Path, context.Response.Headers.Allow.ToString())),
            _ => Task.CompletedTask,
        };
    }
}
