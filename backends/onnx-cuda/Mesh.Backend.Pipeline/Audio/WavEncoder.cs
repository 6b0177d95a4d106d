using System.Buffers.Binary;
using System.Text;

namespace Mesh.Backend.Pipeline.Audio;

/// <summary>
/// 16-bit mono WAV for streaming: the length is unknown when the header goes out, so the RIFF and data sizes carry
/// the largest value, which decoders read as "until the end of the stream" (OpenAI's streamed WAV does the same).
/// </summary>
public sealed class WavEncoder(int sampleRate) : PcmEncoder
{
    private const uint UnknownLength = uint.MaxValue;

    public override string ContentType => "audio/wav";

    public override ReadOnlyMemory<byte> Begin() => Header(sampleRate, UnknownLength);

    /// <summary>A canonical 44-byte header for <paramref name="dataBytes"/> bytes of 16-bit mono PCM.</summary>
    public static byte[] Header(int sampleRate, uint dataBytes)
    {
        const short channels = 1;
        const short bitsPerSample = 16;
        const short blockAlign = channels * bitsPerSample / 8;
        var header = new byte[44];
        var span = header.AsSpan();
        Encoding.ASCII.GetBytes("RIFF", span);
        BinaryPrimitives.WriteUInt32LittleEndian(span[4..], dataBytes == UnknownLength ? UnknownLength : dataBytes + 36);
        Encoding.ASCII.GetBytes("WAVEfmt ", span[8..]);
        BinaryPrimitives.WriteInt32LittleEndian(span[16..], 16);
        BinaryPrimitives.WriteInt16LittleEndian(span[20..], 1); // PCM
        BinaryPrimitives.WriteInt16LittleEndian(span[22..], channels);
        BinaryPrimitives.WriteInt32LittleEndian(span[24..], sampleRate);
        BinaryPrimitives.WriteInt32LittleEndian(span[28..], sampleRate * blockAlign);
        BinaryPrimitives.WriteInt16LittleEndian(span[32..], blockAlign);
        BinaryPrimitives.WriteInt16LittleEndian(span[34..], bitsPerSample);
        Encoding.ASCII.GetBytes("data", span[36..]);
        BinaryPrimitives.WriteUInt32LittleEndian(span[40..], dataBytes);
        return header;
    }
}
