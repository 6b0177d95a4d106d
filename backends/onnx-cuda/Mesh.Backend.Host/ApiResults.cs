using Mesh.Contracts;

namespace Mesh.Backend.Host;

public static class ApiResults
{
    /// <summary>The OpenAI error envelope with the error's status code.</summary>
    public static IResult Error(ApiError error) =>
        TypedResults.Json(error.ToEnvelope(), ContractsJsonContext.Default.ErrorEnvelope, statusCode: error.Status);

    public static Task WriteErrorAsync(HttpContext context, ApiError error) =>
        Error(error).ExecuteAsync(context);
}
