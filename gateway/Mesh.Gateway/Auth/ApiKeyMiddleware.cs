using System.Collections.Frozen;
using System.Globalization;
using System.Net;
using Mesh.Contracts;
using Mesh.Contracts.Http;

namespace Mesh.Gateway.Auth;

/// <summary>
/// <c>Authorization: Bearer KEY</c> like OpenAI on every path but health, readiness, metrics and the page: a missing,
/// unknown or revoked key is a 401 envelope, a key over its rate a 429 with <c>Retry-After</c>. With no keys configured
/// only loopback clients are served.
/// </summary>
public sealed class ApiKeyMiddleware(RequestDelegate next, ApiKeyStore keys)
{
    public const string ClientHeader = "X-Mesh-Client";

    private const string MissingKey = "missing_api_key";
    private const string InvalidKey = "invalid_api_key";
    private const string RevokedKey = "revoked_api_key";
    private const string LoopbackOnly = "loopback_only";
    private const string RateLimitExceeded = "rate_limit_exceeded";

    // The open paths are listed rather than the API's: a path left off this list needs a key however it is spelled, so
    // one the routes accept in another letter case or with a trailing slash cannot skip the key or its rate limit.
    private static readonly FrozenSet<string> OpenPaths =
        GatewayEndpoints.ProbePaths.Concat(PlaygroundEndpoints.Paths).ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    static ApiKeyMiddleware()
    {
        // Every refusal starts at 0, so the auth failure rate reads 0 rather than no data until the first one.
        foreach (var code in new[] { MissingKey, InvalidKey, RevokedKey, LoopbackOnly, RateLimitExceeded })
        {
            GatewayMetrics.AuthFailures.WithLabels(code).Publish();
        }
    }

    public async Task InvokeAsync(HttpContext context)
    {
        if (OpenPaths.Contains(RequestPaths.Trimmed(context.Request.Path)))
        {
            await next(context);
            return;
        }

        var error = Authenticate(context, out var identity, out var retryAfter);
        if (error is not null)
        {
            if (retryAfter is { } wait)
            {
                context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            }

            if (error.Status == StatusCodes.Status401Unauthorized)
            {
                context.Response.Headers.WWWAuthenticate = ChallengeFor(error);
            }

            GatewayMetrics.AuthFailures.WithLabels(error.Code ?? "unknown").Inc();
            await ApiResults.WriteErrorAsync(context, error);
            return;
        }

        identity!.AttachTo(context);
        await next(context);
    }

    private ApiError? Authenticate(HttpContext context, out ClientIdentity? identity, out TimeSpan? retryAfter)
    {
        identity = null;
        retryAfter = null;
        if (!keys.HasKeys)
        {
            var remote = context.Connection.RemoteIpAddress;
            if (remote is null || !IPAddress.IsLoopback(remote))
            {
                return Unauthorized("No API keys are configured, so this gateway serves loopback clients only.", LoopbackOnly);
            }

            var clientId = context.Request.Headers[ClientHeader].FirstOrDefault() ?? remote.ToString();
            identity = new ClientIdentity(clientId, null, AllowRealtime: true, RateLimit: null);
            return null;
        }

        var authorization = context.Request.Headers.Authorization.FirstOrDefault();
        if (authorization is null || !authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return Unauthorized("Missing API key: send 'Authorization: Bearer YOUR_KEY'.", MissingKey);
        }

        var key = keys.Find(authorization["Bearer ".Length..].Trim());
        if (key is null)
        {
            return Unauthorized("Incorrect API key provided.", InvalidKey);
        }

        var entry = key.Entry;
        if (entry.Revoked)
        {
            return Unauthorized("This API key has been revoked.", RevokedKey);
        }

        if (!key.Bucket.TryTake(out var wait))
        {
            retryAfter = wait;
            return RateLimited(entry.Name, wait);
        }

        identity = new ClientIdentity(entry.Name, entry.Name, entry.AllowRealtime, key.Bucket);
        return null;
    }

    /// <summary>What a request over its key's rate is told: 429, <c>rate_limit_exceeded</c>, when the next token comes.</summary>
    internal static ApiError RateLimited(string keyName, TimeSpan wait) =>
        new(StatusCodes.Status429TooManyRequests, $"Rate limit of key '{keyName}' reached; retry after {wait.TotalSeconds:0.#} s.", ErrorTypes.RateLimit, null, RateLimitExceeded);

    private static ApiError Unauthorized(string message, string code) =>
        new(StatusCodes.Status401Unauthorized, message, ErrorTypes.Authentication, null, code);

    /// <summary>
    /// The challenge every 401 must carry (RFC 9110 §11.6.1), in RFC 6750's form: a key that was sent and refused is an
    /// <c>invalid_token</c>; a request without one gets the bare scheme, as §3.1 asks.
    /// </summary>
    private static string ChallengeFor(ApiError error) =>
        error.Code is InvalidKey or RevokedKey ? "Bearer error=\"invalid_token\"" : "Bearer";
}
