using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mesh.Contracts;

/// <summary>
/// An integer field that also takes a number written with a zero fraction or an exponent (<c>16000.0</c>, <c>1.6e4</c>):
/// clients that keep every number as a float (Python's <c>json</c> of a float) send it so. A number with a fraction, or
/// beyond 32 bits, is a JSON error on the field, as any other value the field cannot hold.
/// </summary>
public sealed class WholeNumberJsonConverter : JsonConverter<int>
{
    public override int Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.Number)
        {
            throw new JsonException();
        }

        if (reader.TryGetInt32(out var value))
        {
            return value;
        }

        return reader.TryGetDecimal(out var number) && decimal.IsInteger(number) && number is >= int.MinValue and <= int.MaxValue
            ? (int)number
            : throw new JsonException();
    }

    public override void Write(Utf8JsonWriter writer, int value, JsonSerializerOptions options) => writer.WriteNumberValue(value);
}
