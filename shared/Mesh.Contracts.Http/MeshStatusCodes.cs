namespace Mesh.Contracts.Http;

/// <summary>Status codes the hosts count in <c>mesh_requests_total</c> beyond those HTTP defines.</summary>
public static class MeshStatusCodes
{
    /// <summary>
    /// nginx's "client closed request": the client went away before its answer was complete, so the request is counted
    /// as such rather than by a status nobody read, or not at all.
    /// </summary>
    public const int ClientClosedRequest = 499;
}
