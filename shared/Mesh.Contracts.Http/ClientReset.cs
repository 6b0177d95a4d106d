using Microsoft.AspNetCore.Http;

namespace Mesh.Contracts.Http;

/// <summary>A client that reset its connection while the server read its request body.</summary>
public static class ClientReset
{
    /// <summary>
    /// Aborts the request's connection and gives the cancellation to throw in place of <paramref name="reset"/>, a failed
    /// read of the body that is not a malformed body (a <see cref="BadHttpRequestException"/>). The reset often reaches
    /// the read before the server has marked the request aborted, and the server then logged it as an unhandled error,
    /// with a second error for the body it could not drain; a request already aborted whose client left is logged at
    /// debug, and counted as one whose client left.
    /// </summary>
    public static OperationCanceledException WhileReadingBody(HttpContext context, IOException reset)
    {
        context.Abort();
        return new OperationCanceledException("The client reset its connection while sending the request body.", reset, context.RequestAborted);
    }
}
