using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mesh.Contracts;

/// <summary>
/// OpenAI's <c>voice</c> is a name or a custom voice object, <c>{"id": "..."}</c>, which the SDKs send as it is; both
/// give the name. Anything else is a type error, reported on <c>voice</c>.
/// </summary>
public sealed class VoiceJsonConverter : JsonConverter<string>
{
    public const string ExpectedType = "a string or an object with a string 'id'";

    public override string Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return reader.GetString()!;
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException();
        }

        string? id = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isId = reader.ValueTextEquals("id"u8);
            reader.Read();
            if (isId)
            {
                id = reader.TokenType == JsonTokenType.String ? reader.GetString() : throw new JsonException();
            }
            else
            {
                reader.Skip();
            }
        }

        return id ?? throw new JsonException();
    }

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);
}
