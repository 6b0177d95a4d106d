using System.Buffers.Binary;
using System.Text;
using Mesh.Backend.Pipeline.Audio;

namespace Mesh.Tests.Backend;

public sealed class WavEncoderTests
{
    [Fact]
    public void Streaming_header_describes_16_bit_mono_with_unknown_length()
    {
        var header = new WavEncoder(24000).Begin().ToArray();

        Assert.Equal(44, header.Length);
        Assert.Equal("RIFF", Encoding.ASCII.GetString(header, 0, 4));
        Assert.Equal("WAVEfmt ", Encoding.ASCII.GetString(header, 8, 8));
        Assert.Equal(24000, BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(24)));
        Assert.Equal(48000, BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(28)));
        Assert.Equal(16, BinaryPrimitives.ReadInt16LittleEndian(header.AsSpan(34)));
        Assert.Equal(uint.MaxValue, BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(40)));
    }

    [Fact]
    public void Known_length_header_has_consistent_sizes()
    {
        var header = WavEncoder.Header(22050, 1000);

        Assert.Equal(1036u, BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4)));
        Assert.Equal(1000u, BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(40)));
    }

    [Fact]
    public async Task Samples_become_clamped_little_endian_int16()
    {
        using var encoder = new PcmEncoder();
        var bytes = (await encoder.EncodeAsync(new float[] { 0f, 1f, -1f, 2f, 0.5f }, CancellationToken.None)).ToArray();

        short Sample(int i) => BinaryPrimitives.ReadInt16LittleEndian(bytes.AsSpan(i * 2));
        Assert.Equal(10, bytes.Length);
        Assert.Equal(0, Sample(0));
        Assert.Equal(short.MaxValue, Sample(1));
        Assert.Equal(-short.MaxValue, Sample(2));
        Assert.Equal(short.MaxValue, Sample(3));
        Assert.Equal(16384, Sample(4));
    }
}
