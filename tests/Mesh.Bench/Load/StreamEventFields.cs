using System.Buffers;
using System.Text.Json;

namespace Mesh.Bench.Load;

/// <summary>
/// The fields of a streaming event the bench needs (OpenAI's <c>speech.audio.*</c> and Mesh's <c>start</c>,
/// <c>sentence</c>, <c>done</c>, <c>error</c>), read without materializing the base64 audio: only its decoded length.
/// </summary>
public readonly record struct StreamEventFields(string? Type, long AudioBytes, int? SampleRate, string? ErrorMessage)
{
    public static StreamEventFields Parse(ReadOnlySpan<byte> json)
    {
        string? type = null;
        string? error = null;
        long audioBytes = 0;
        int? sampleRate = null;
        var reader = new Utf8JsonReader(json);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return default;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.ValueSpan;
            reader.Read();
            if (name.SequenceEqual("type"u8) && reader.TokenType == JsonTokenType.String)
            {
                type = reader.GetString();
            }
            else if (name.SequenceEqual("audio"u8) && reader.TokenType == JsonTokenType.String)
            {
                audioBytes = DecodedLength(ref reader);
            }
            else if (name.SequenceEqual("sample_rate"u8) && reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var rate))
            {
                sampleRate = rate;
            }
            else if (name.SequenceEqual("error"u8) && reader.TokenType == JsonTokenType.StartObject)
            {
                error = ReadErrorMessage(ref reader);
            }
            else
            {
                reader.Skip();
            }
        }

        return new StreamEventFields(type, audioBytes, sampleRate, error);
    }

    /// <summary>Bytes a base64 string decodes to; JSON may escape some of its characters (<c>+</c> as <c>\u002B</c>).</summary>
    private static long DecodedLength(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped)
        {
            return Base64Length(reader.ValueSpan);
        }

        var rented = ArrayPool<byte>.Shared.Rent(reader.ValueSpan.Length);
        try
        {
            var written = reader.CopyString(rented);
            return Base64Length(rented.AsSpan(0, written));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static long Base64Length(ReadOnlySpan<byte> base64)
    {
        var padding = base64.EndsWith("=="u8) ? 2 : base64.EndsWith("="u8) ? 1 : 0;
        return base64.Length / 4 * 3 - padding;
    }

    private static string? ReadErrorMessage(ref Utf8JsonReader reader)
    {
        string? message = null;
        var depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.ValueSpan.SequenceEqual("message"u8))
            {
                reader.Read();
                message = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            }
        }

        return message ?? "(no message)";
    }
}
