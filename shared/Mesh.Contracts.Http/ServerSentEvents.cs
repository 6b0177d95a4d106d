using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Mesh.Contracts.Http;

/// <summary>SSE framing: one <c>data:</c> line of JSON per event.</summary>
public static class ServerSentEvents
{
    private static readonly byte[] Prefix = "data: "u8.ToArray();
    private static readonly byte[] Suffix = "\n\n"u8.ToArray();

    public static byte[] Frame<T>(T value, JsonTypeInfo<T> typeInfo) =>
        [.. Prefix, .. JsonSerializer.SerializeToUtf8Bytes(value, typeInfo), .. Suffix];

    public static byte[] Error(ApiError error) => Frame(StreamEvent.Failed(error), ContractsJsonContext.Wire.StreamEvent);

    /// <summary>
    /// The stream event in one event as <see cref="Frame"/> writes it (its blank line optional); null for anything else:
    /// an event of another shape, or one cut short.
    /// </summary>
    public static StreamEvent? ReadStreamEvent(ReadOnlySpan<byte> sseEvent)
    {
        var line = sseEvent.TrimEnd((byte)'\n');
        if (!line.StartsWith(Prefix))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(line[Prefix.Length..], ContractsJsonContext.Wire.StreamEvent);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
