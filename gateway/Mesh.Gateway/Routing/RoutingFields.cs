using System.Text.Json;
using Mesh.Contracts;

namespace Mesh.Gateway.Routing;

/// <summary>The two body fields routing needs; a body that is not a JSON object yields none (the backend explains why).</summary>
public sealed record RoutingFields(string? StreamFormat, string? Priority)
{
    public static RoutingFields None { get; } = new(null, null);

    /// <summary>Scans the top-level object once, without building a document; a repeated field counts as its last value.</summary>
    public static RoutingFields Read(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(SpeechRequestParser.WithoutByteOrderMark(json));
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return None;
            }

            string? streamFormat = null, priority = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isStreamFormat = reader.ValueTextEquals("stream_format"u8);
                var isPriority = !isStreamFormat && reader.ValueTextEquals("priority"u8);
                reader.Read();
                var value = reader.TokenType == JsonTokenType.String && (isStreamFormat || isPriority) ? reader.GetString() : null;
                reader.Skip();
                if (isStreamFormat)
                {
                    streamFormat = value;
                }
                else if (isPriority)
                {
                    priority = value;
                }
            }

            return reader.TokenType == JsonTokenType.EndObject ? new RoutingFields(streamFormat, priority) : None;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a string field with an escape that is not Unicode (a lone surrogate).
            return None;
        }
    }
}
