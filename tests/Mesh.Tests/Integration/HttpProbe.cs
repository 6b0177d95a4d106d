namespace Mesh.Tests.Integration;

/// <summary>Asking a process that may not listen yet (starting, or started again) whether it is ready.</summary>
public static class HttpProbe
{
    /// <summary>Whether GET <paramref name="path"/> answers 2xx; false while nothing listens there or the client's timeout runs out.</summary>
    public static async Task<bool> AnswersAsync(HttpClient client, string path)
    {
        try
        {
            using var response = await client.GetAsync(new Uri(path, UriKind.Relative));
            return response.IsSuccessStatusCode;
        }
        // A connection the process drops as it opens (killed, or not yet serving) can also surface as the socket's own
        // error: HttpClient reads the connected socket's remote address, which throws once the peer has reset it.
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Net.Sockets.SocketException or IOException)
        {
            return false;
        }
    }
}
