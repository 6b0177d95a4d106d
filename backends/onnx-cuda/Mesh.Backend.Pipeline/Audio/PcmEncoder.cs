using System.Buffers.Binary;

namespace Mesh.Backend.Pipeline.Audio;

/// <summary>Headerless signed 16-bit little-endian mono.</summary>
public class PcmEncoder : InProcessAudioEncoder
{
    public override string ContentType => "audio/pcm";

    public override ReadOnlyMemory<byte> Begin() => ReadOnlyMemory<byte>.Empty;

    protected override ReadOnlyMemory<byte> Encode(ReadOnlySpan<float> samples) => ToBytes(samples);

    public static byte[] ToBytes(ReadOnlySpan<float> samples)
    {
        var bytes = new byte[samples.Length * 2];
        for (var i = 0; i < samples.Length; i++)
        {
            BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(i * 2), ToInt16(samples[i]));
        }

        return bytes;
    }

    protected override ReadOnlyMemory<byte> Finish() => ReadOnlyMemory<byte>.Empty;

    public override void Dispose() => GC.SuppressFinalize(this);

    public static short ToInt16(float sample) => (short)Math.Round(Math.Clamp(sample, -1f, 1f) * short.MaxValue);
}
