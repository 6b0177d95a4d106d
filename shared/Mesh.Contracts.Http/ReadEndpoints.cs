using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Mesh.Contracts.Http;

/// <summary>
/// Read-only endpoints answer HEAD as well as GET, with the same status and headers and no body (RFC 9110 §9.3.2;
/// Kestrel drops a HEAD response's body): load balancers and uptime checks often probe with HEAD.
/// </summary>
public static class ReadEndpoints
{
    public static readonly IReadOnlyList<string> Methods = [HttpMethods.Get, HttpMethods.Head];

    public static RouteHandlerBuilder MapGetAndHead(this IEndpointRouteBuilder app, string pattern, Delegate handler) =>
        app.MapMethods(pattern, Methods, handler);
}
