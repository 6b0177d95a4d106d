using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Mesh.Contracts.Http;

/// <summary>
/// Answers a request that failed unexpectedly before its response started with the API's 500 envelope, where the server
/// would send a bare 500 with no body for clients and OpenAI's SDKs to read. Unlike <c>UseExceptionHandler</c>, which
/// clears the response, it keeps the headers already set, the request id among them, which ties the answer to the
/// failure logged here. A failure after the response started, or with its client gone, goes on to the server.
/// </summary>
public sealed partial class UnhandledErrorMiddleware(RequestDelegate next, ILogger<UnhandledErrorMiddleware> logger)
{
    public static ApiError Error { get; } = ApiError.Internal("The server failed to answer this request.");

    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);
        }
        catch (Exception ex) when (!context.Response.HasStarted && !ClientLeft(context, ex))
        {
            LogUnhandled(logger, ex, context.Request.Method, context.Request.Path);
            await ApiResults.WriteErrorAsync(context, Error);
        }
    }

    /// <summary>
    /// The client went away: nobody reads an answer. A reset while the body is read is thrown as the request's own
    /// cancellation (<see cref="ClientReset"/>) before the server marks the request aborted.
    /// </summary>
    private static bool ClientLeft(HttpContext context, Exception failure) =>
        context.RequestAborted.IsCancellationRequested
        || (failure is OperationCanceledException cancelled && cancelled.CancellationToken == context.RequestAborted);

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled failure answering {Method} {Path}; answered with 500")]
    private static partial void LogUnhandled(ILogger logger, Exception exception, string method, PathString path);
}
