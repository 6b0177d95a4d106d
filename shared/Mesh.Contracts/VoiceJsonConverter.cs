using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mesh.Contracts;

/// <summary>
/// OpenAI's <c>voice</c> is a name or a custom voice object, <c>{"id": "..."}</c>, which the SDKs send as it is; both
/// give the name. Anything else is a type error, reported on <c>voice</c>; an object's names what its <c>id</c> is.
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
                id = reader.TokenType == JsonTokenType.String
                    ? reader.GetString()
                    : throw new VoiceObjectException($"an object whose 'id' is {SpeechRequestParser.Describe(reader.TokenType)}");
            }
            else
            {
                reader.Skip();
            }
        }

        return id ?? throw new VoiceObjectException("an object without an 'id'");
    }

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);
}

/// <summary>A voice object without a string <c>id</c>; <see cref="Got"/> says what it has, for the type error.</summary>
internal sealed class VoiceObjectException(string got) : JsonException
{
    public string Got { get; } = got;
}
