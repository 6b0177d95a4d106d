using Mesh.Tests.Integration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Mesh.Tests.Observability;

/// <summary>
/// A backend that passes its readiness probe and answers every speech request with 503, as an overloaded or
/// broken backend does: the gateway retries such a request on another backend and ejects this one.
/// </summary>
public static class RefusingBackend
{
    public static Task<InProcessBackend> StartAsync() => InProcessBackend.StartAsync(app => app.MapFallback(() => Results.Json(
        new { error = new { message = "Overloaded.", type = "server_error", param = (string?)null, code = "overloaded" } },
        statusCode: StatusCodes.Status503ServiceUnavailable)));
}
