using Mesh.Contracts;
using Mesh.Contracts.Http;

namespace Mesh.Backend.Host;

/// <summary>A request body read into memory, or the precise error (415, 413) that refuses it.</summary>
public sealed record RequestBody(ReadOnlyMemory<byte> Bytes, ApiError? Error)
{
    /// <summary>Reads a JSON body of at most <paramref name="maxBytes"/> bytes without trusting Content-Length.</summary>
    public static async Task<RequestBody> ReadJsonAsync(HttpRequest request, int maxBytes, CancellationToken cancellationToken)
    {
        if (JsonBodyContentType.Refusal(request) is { } refusal)
        {
            return Refuse(refusal);
        }

        if (request.ContentLength > maxBytes)
        {
            return Refuse(TooLarge(maxBytes));
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        try
        {
            while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
            {
                if (buffer.Length + read > maxBytes)
                {
                    return Refuse(TooLarge(maxBytes));
                }

                buffer.Write(chunk, 0, read);
            }
        }
        catch (BadHttpRequestException ex)
        {
            return Refuse(ApiResults.FromBadRequest(ex));
        }
        catch (IOException ex)
        {
            throw ClientReset.WhileReadingBody(request.HttpContext, ex);
        }

        return new RequestBody(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), null);
    }

    private static ApiError TooLarge(int maxBytes) => ApiError.TooLarge($"Request body exceeds {maxBytes} bytes.");

    private static RequestBody Refuse(ApiError error) => new(ReadOnlyMemory<byte>.Empty, error);
}
