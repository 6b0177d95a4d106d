using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Mesh.Tests.Integration;

/// <summary>Reads a server-sent event stream of Mesh's, whose events are each one <c>data:</c> line of JSON.</summary>
public static class SseEvents
{
    /// <summary>POSTs <paramref name="body"/> to <paramref name="path"/> and returns every event of the answer, in order.</summary>
    public static async Task<List<JsonElement>> ReadAsync(HttpClient client, string path, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);

        var events = new List<JsonElement>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                using var document = JsonDocument.Parse(line["data: ".Length..]);
                events.Add(document.RootElement.Clone());
            }
        }

        return events;
    }
}
