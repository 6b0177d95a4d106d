using System.Text.Json.Serialization;

namespace Mesh.Contracts;

/// <summary>OpenAI's error shape: <c>{"error":{"message","type","param","code"}}</c>.</summary>
public sealed record ErrorEnvelope([property: JsonPropertyName("error")] ErrorBody Error);

public sealed record ErrorBody(
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("param")] string? Param,
    [property: JsonPropertyName("code")] string? Code);

/// <summary>An error as the API reports it: HTTP status plus the envelope's fields.</summary>
public sealed record ApiError(int Status, string Message, string Type, string? Param, string? Code)
{
    public ErrorEnvelope ToEnvelope() => new(new ErrorBody(Message, Type, Param, Code));

    public static ApiError InvalidRequest(string message, string? param, string code) =>
        new(400, message, ErrorTypes.InvalidRequest, param, code);

    public static ApiError NotFound(string message, string? param, string code) =>
        new(404, message, ErrorTypes.InvalidRequest, param, code);

    public static ApiError TooLarge(string message) =>
        new(413, message, ErrorTypes.InvalidRequest, null, "request_too_large");

    public static ApiError UnsupportedMediaType(string message, string code) =>
        new(415, message, ErrorTypes.InvalidRequest, null, code);

    public static ApiError Unavailable(string message, string code) =>
        new(503, message, ErrorTypes.Server, null, code);

    /// <summary>
    /// The answer to work that comes, or still waits, once a <paramref name="server"/>'s (gateway's or backend's) shutdown
    /// has begun: another may serve it.
    /// </summary>
    public static ApiError Draining(string server) =>
        Unavailable($"This {server} is shutting down; retry on another.", "draining");

    public static ApiError Internal(string message) =>
        new(500, message, ErrorTypes.Server, null, "internal_error");
}

public static class ErrorTypes
{
    public const string InvalidRequest = "invalid_request_error";
    public const string Authentication = "authentication_error";
    public const string Permission = "permission_error";
    public const string RateLimit = "rate_limit_error";
    public const string Server = "server_error";
}

/// <summary>Codes one process reads in another's answers, not only writes.</summary>
public static class ErrorCodes
{
    /// <summary>A backend's 503 while its model loads, or failed to load: the gateway expects it of a backend starting.</summary>
    public const string ModelNotReady = "model_not_ready";
}
