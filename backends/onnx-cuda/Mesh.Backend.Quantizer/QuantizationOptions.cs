using System.Globalization;

namespace Mesh.Backend.Quantizer;

/// <summary>How <see cref="MatMulNBitsRewriter"/> quantizes MatMul and Gemm weights.</summary>
public sealed record QuantizationOptions
{
    public const int DefaultBlockSize = 32;
    public const int DefaultMinDimension = 64;
    public const int DefaultAccuracyLevel = 4;

    /// <summary>Bits per weight; MatMulNBits also has 4 and 2, but only 8 keeps speech within the fidelity budget.</summary>
    public int Bits { get; init; } = 8;

    /// <summary>Weights per block along K, each block with its own scale (and zero point): a power of two, at least 16.</summary>
    public int BlockSize { get; init; } = DefaultBlockSize;

    /// <summary>Symmetric blocks use the implicit zero point 128 and store no zero points; asymmetric ones store one per block.</summary>
    public bool Symmetric { get; init; } = true;

    /// <summary>A weight is quantized only when both its dimensions (K and N) are at least this.</summary>
    public int MinDimension { get; init; } = DefaultMinDimension;

    /// <summary>
    /// MatMulNBits' <c>accuracy_level</c>, read by the CPU provider only (the CUDA kernel ignores it). 4 quantizes A per
    /// block and multiplies in int8, which is what makes int8 faster than fp32 on the CPU; 0 leaves it unset, and the CPU
    /// provider then dequantizes B in fp32 on every run (exact, but several times slower than fp32 for one-row decode steps).
    /// </summary>
    public int AccuracyLevel { get; init; } = DefaultAccuracyLevel;

    /// <summary>Joins <c>Add(MatMul(a, W1), MatMul(b, W2))</c> into one MatMul first (<see cref="SiblingMatMulFusion"/>).</summary>
    public bool FuseSiblingMatMuls { get; init; } = true;

    public static QuantizationOptions Default { get; } = new();

    /// <exception cref="ArgumentException">
    /// A value MatMulNBits does not accept: the parameter names the property, and the message starts with the value, so a
    /// tool can put the name of its own option in front (<c>--bits 4 is not supported; only 8 is.</c>).
    /// </exception>
    public void Validate()
    {
        if (Bits != 8)
        {
            throw new ArgumentException($"{Bits} is not supported; only 8 is.", nameof(Bits));
        }

        if (BlockSize < 16 || (BlockSize & (BlockSize - 1)) != 0)
        {
            throw new ArgumentException($"{BlockSize} is not a power of two of at least 16.", nameof(BlockSize));
        }

        if (MinDimension < 1)
        {
            throw new ArgumentException($"{MinDimension} is not positive.", nameof(MinDimension));
        }

        if (AccuracyLevel is < 0 or > 4)
        {
            throw new ArgumentException($"{AccuracyLevel} is not in 0..4.", nameof(AccuracyLevel));
        }
    }

    /// <summary>A stable one-line description; also part of the cache key, so every field that changes the output is in it.</summary>
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"MatMulNBits bits={Bits} block_size={BlockSize} {(Symmetric ? "symmetric" : "asymmetric")} min_dim={MinDimension} accuracy_level={AccuracyLevel} siblings={(FuseSiblingMatMuls ? "fused" : "apart")}");
}
