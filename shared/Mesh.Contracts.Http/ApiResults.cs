using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Mesh.Contracts.Http;

/// <summary>Writes the contract's errors over HTTP, the same way in the gateway and the backends.</summary>
public static class ApiResults
{
    private const string RetryAfterSeconds = "1";

    /// <summary>
    /// The OpenAI error envelope with the error's status; 429 and 503 also say when to retry, unless already said, and
    /// 504 says not to: the request ran out its whole deadline, and the SDKs' automatic retries of a 5xx would only
    /// multiply the wait and, counted as failures, eject healthy backends.
    /// </summary>
    public static IResult Error(ApiError error) => new ErrorResult(error);

    public static Task WriteErrorAsync(HttpContext context, ApiError error) => Error(error).ExecuteAsync(context);

    /// <summary>
    /// 404 naming the method and path asked for, so a client can see which of its calls went astray. A request whose
    /// target is no path (<c>OPTIONS *</c>, <c>CONNECT host:port</c>) has an empty one, so the target is named instead.
    /// </summary>
    public static ApiError UnknownUrl(HttpRequest request)
    {
        var path = request.Path.HasValue ? request.Path.Value : request.HttpContext.Features.GetRequiredFeature<IHttpRequestFeature>().RawTarget;
        return ApiError.NotFound($"No such endpoint: {request.Method} {path}.", null, "unknown_url");
    }

    /// <summary><c>GET /v1/models/{id}</c> from the list this host serves: the model, or 404 as OpenAI answers it.</summary>
    public static IResult Model(ModelList models, string id) => models.Find(id) is { } model
        ? TypedResults.Json(model, ContractsJsonContext.Wire.ModelInfo)
        : Error(ApiError.NotFound(
            $"The model '{id}' does not exist; the models are: {string.Join(", ", models.Data.Select(m => m.Id))}.", "model", "model_not_found"));

    /// <summary>
    /// What Kestrel reports while the body is read — too slow for the minimum data rate (408), over its size limit (413),
    /// broken chunked framing (400) — as the API's error, so the client gets the envelope and no error is logged as a crash.
    /// </summary>
    public static ApiError FromBadRequest(BadHttpRequestException exception) => exception.StatusCode switch
    {
        StatusCodes.Status408RequestTimeout => new(exception.StatusCode, "The request body arrived too slowly.", ErrorTypes.InvalidRequest, null, "request_timeout"),
        StatusCodes.Status413PayloadTooLarge => ApiError.TooLarge("Request body is too large."),
        _ => new(exception.StatusCode, $"The request could not be read: {exception.Message}", ErrorTypes.InvalidRequest, null, "invalid_request"),
    };

    /// <summary>405 naming the methods the path does answer (also sent in <c>Allow</c>).</summary>
    public static ApiError MethodNotAllowed(string method, string path, string allowed) =>
        new(StatusCodes.Status405MethodNotAllowed, $"{method} is not allowed on {path}; use {allowed}.", ErrorTypes.InvalidRequest, null, "method_not_allowed");

    private sealed class ErrorResult(ApiError error) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            if (error.Status is StatusCodes.Status429TooManyRequests or StatusCodes.Status503ServiceUnavailable)
            {
                httpContext.Response.Headers.TryAdd("Retry-After", RetryAfterSeconds);
            }
            else if (error.Status == StatusCodes.Status504GatewayTimeout)
            {
                httpContext.Response.Headers[MeshHeaders.ShouldRetry] = "false";
            }

            return TypedResults.Json(error.ToEnvelope(), ContractsJsonContext.Wire.ErrorEnvelope, statusCode: error.Status)
                .ExecuteAsync(httpContext);
        }
    }
}
