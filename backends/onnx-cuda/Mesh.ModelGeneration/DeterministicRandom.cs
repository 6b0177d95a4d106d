using System.Runtime.InteropServices;

namespace Mesh.ModelGeneration;

/// <summary>A seeded xorshift64* generator: the same seed gives the same weights on every machine and run.</summary>
internal sealed class DeterministicRandom(ulong seed)
{
    private ulong _state = seed == 0 ? 0x9E3779B97F4A7C15UL : seed * 0x9E3779B97F4A7C15UL;

    /// <summary>Uniform in [-1, 1).</summary>
    public float NextSigned()
    {
        _state ^= _state >> 12;
        _state ^= _state << 25;
        _state ^= _state >> 27;
        var bits = (_state * 0x2545F4914F6CDD1DUL) >> 40; // 24 random bits
        return (bits * (1f / (1 << 23))) - 1f;
    }

    public void Fill(Span<float> values, float scale)
    {
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = NextSigned() * scale;
        }
    }

    /// <summary>float32 little-endian bytes, the layout of an ONNX initializer's raw_data.</summary>
    public byte[] FloatBytes(long count, float scale)
    {
        var bytes = new byte[checked(count * sizeof(float))];
        Fill(MemoryMarshal.Cast<byte, float>(bytes.AsSpan()), scale);
        return bytes;
    }
}
