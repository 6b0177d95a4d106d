namespace Mesh.Backend.Quantizer;

/// <summary>
/// A [K,N] weight in MatMulNBits' 8-bit layout: byte <c>i</c> of block <c>b</c> of column <c>n</c> holds the weight at
/// row <c>b·BlockSize + i</c> (rows past K are padding that dequantizes to 0), and <c>w = (q − zero point) · scale</c>.
/// </summary>
public sealed class QuantizedMatrix
{
    internal QuantizedMatrix(int k, int n, int blockSize, byte[] packed, float[] scales, byte[]? zeroPoints, bool halfScales)
    {
        K = k;
        N = n;
        BlockSize = blockSize;
        Packed = packed;
        Scales = scales;
        ZeroPoints = zeroPoints;
        HalfScales = halfScales;
    }

    public int K { get; }

    public int N { get; }

    public int BlockSize { get; }

    /// <summary>Blocks per column: K rounded up to whole blocks.</summary>
    public int Blocks => (K + BlockSize - 1) / BlockSize;

    /// <summary>[N, Blocks, BlockSize] quantized weights.</summary>
    public byte[] Packed { get; }

    /// <summary>[N, Blocks] scales, as stored (already rounded to fp16 when <see cref="HalfScales"/>).</summary>
    public float[] Scales { get; }

    /// <summary>[N, Blocks] zero points; null for symmetric blocks, whose zero point is the implicit 128.</summary>
    public byte[]? ZeroPoints { get; }

    /// <summary>The scales are stored as fp16 (the weight, and so MatMulNBits' A and scales, are fp16).</summary>
    public bool HalfScales { get; }

    /// <summary>Bytes of the packed weights, scales and zero points together.</summary>
    public long Bytes => Packed.LongLength + (Scales.LongLength * (HalfScales ? 2 : 4)) + (ZeroPoints?.LongLength ?? 0);

    public float Scale(int n, int block) => Scales[(n * Blocks) + block];

    public byte ZeroPoint(int n, int block) => ZeroPoints?[(n * Blocks) + block] ?? BlockQuantizer.SymmetricZeroPoint;

    /// <summary>The weight at row <paramref name="k"/>, column <paramref name="n"/> as MatMulNBits computes it.</summary>
    public float Dequantize(int k, int n)
    {
        var block = k / BlockSize;
        var q = Packed[(((n * Blocks) + block) * BlockSize) + (k % BlockSize)];
        return (q - ZeroPoint(n, block)) * Scale(n, block);
    }

    /// <summary>The whole weight, [K,N] row-major.</summary>
    public float[] Dequantize()
    {
        var weights = new float[(long)K * N];
        for (var k = 0; k < K; k++)
        {
            for (var n = 0; n < N; n++)
            {
                weights[((long)k * N) + n] = Dequantize(k, n);
            }
        }

        return weights;
    }
}

/// <summary>Block-wise 8-bit quantization along K, one scale (and for asymmetric blocks one zero point) per block.</summary>
public static class BlockQuantizer
{
    /// <summary>MatMulNBits' default zero point for 8 bits (2^(bits−1)), used when no zero points are given.</summary>
    public const byte SymmetricZeroPoint = 128;

    /// <summary>
    /// Quantizes <paramref name="weights"/>: [K,N] row-major (MatMul's B), or [N,K] when <paramref name="columnsFirst"/>
    /// (Gemm's B with transB). <paramref name="halfScales"/> stores the scales as fp16, for fp16 weights.
    /// </summary>
    /// <exception cref="ArgumentException">The weight holds NaN or infinity, or the sizes do not match.</exception>
    public static QuantizedMatrix Quantize(float[] weights, int k, int n, bool columnsFirst, QuantizationOptions options, bool halfScales = false)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (k < 1 || n < 1 || weights.LongLength != (long)k * n)
        {
            throw new ArgumentException($"{weights.LongLength} values do not make a {k}×{n} weight.", nameof(weights));
        }

        if ((long)n * ((k + options.BlockSize - 1) / options.BlockSize) * options.BlockSize > Array.MaxLength)
        {
            throw new ArgumentException($"A {k}×{n} weight does not fit one packed array.", nameof(weights));
        }

        if (Array.Exists(weights, w => !float.IsFinite(w)))
        {
            throw new ArgumentException("The weight holds NaN or infinite values.", nameof(weights));
        }

        // Columns contiguous ([N,K]) so each block is a contiguous run of K.
        var columns = columnsFirst ? weights : Transpose(weights, k, n);
        var blockSize = options.BlockSize;
        var blocks = (k + blockSize - 1) / blockSize;
        var packed = new byte[(long)n * blocks * blockSize];
        var scales = new float[(long)n * blocks];
        var zeroPoints = options.Symmetric ? null : new byte[(long)n * blocks];
        try
        {
            Parallel.For(0, n, column =>
            {
                Span<float> block = stackalloc float[blockSize];
                for (var b = 0; b < blocks; b++)
                {
                    var start = b * blockSize;
                    var count = Math.Min(blockSize, k - start);
                    block.Clear(); // rows past K are zeros, which dequantize to exactly 0
                    columns.AsSpan((column * k) + start, count).CopyTo(block);
                    var index = (column * blocks) + b;
                    var (scale, zeroPoint) = QuantizeBlock(block, options.Symmetric, halfScales, packed.AsSpan(index * blockSize, blockSize));
                    scales[index] = scale;
                    if (zeroPoints is not null)
                    {
                        zeroPoints[index] = zeroPoint;
                    }
                }
            });
        }
        catch (AggregateException ex) when (ex.InnerExceptions.All(e => e is ArgumentException))
        {
            // A block with no finite scale throws on a worker thread; callers expect the documented ArgumentException.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(ex.InnerExceptions[0]);
        }

        return new QuantizedMatrix(k, n, blockSize, packed, scales, zeroPoints, halfScales);
    }

    /// <summary>
    /// One block. Symmetric: scale = max|v| / 127 and q = round(v / scale) + 128, so q stays in 1..255 and nothing clamps.
    /// Asymmetric: the range is widened to hold 0 (so 0 is exact), scale = range / 255, zero point = round(−min / scale).
    /// Either way every value is within scale / 2 of its dequantized value.
    /// </summary>
    /// <exception cref="ArgumentException">No finite scale covers the block (its range exceeds float's or fp16's).</exception>
    public static (float Scale, byte ZeroPoint) QuantizeBlock(ReadOnlySpan<float> values, bool symmetric, bool halfScales, Span<byte> quantized)
    {
        if (quantized.Length < values.Length)
        {
            throw new ArgumentException("The output is shorter than the block.", nameof(quantized));
        }

        if (symmetric)
        {
            var max = 0f;
            foreach (var v in values)
            {
                max = MathF.Max(max, MathF.Abs(v));
            }

            var scale = StoredScale(max, 127, halfScales);
            for (var i = 0; i < values.Length; i++)
            {
                quantized[i] = scale == 0 ? SymmetricZeroPoint : (byte)Math.Clamp(MathF.Round(values[i] / scale) + SymmetricZeroPoint, 0f, 255f);
            }

            return (scale, SymmetricZeroPoint);
        }

        float min = 0f, high = 0f;
        foreach (var v in values)
        {
            min = MathF.Min(min, v);
            high = MathF.Max(high, v);
        }

        var step = StoredScale(high - min, 255, halfScales);
        if (step == 0)
        {
            quantized[..values.Length].Clear();
            return (0f, 0);
        }

        var zero = (byte)Math.Clamp(MathF.Round(-min / step), 0f, 255f);
        for (var i = 0; i < values.Length; i++)
        {
            quantized[i] = (byte)Math.Clamp(MathF.Round((values[i] / step) + zero), 0f, 255f);
        }

        return (step, zero);
    }

    /// <summary>The smallest storable scale with range / scale ≤ levels, so a block's extreme value never clamps.</summary>
    /// <exception cref="ArgumentException">No finite scale covers the range.</exception>
    private static float StoredScale(float range, int levels, bool half)
    {
        if (range == 0)
        {
            return 0;
        }

        // An asymmetric block's max − min overflows when its values near float's limits have both signs; an infinite scale
        // would dequantize every weight of the block to NaN.
        if (!float.IsFinite(range))
        {
            throw new ArgumentException("A block's range exceeds float's: no finite scale covers it.", nameof(range));
        }

        var scale = range / levels;
        if (half)
        {
            var stored = (Half)scale;
            while ((float)stored < scale || range / (float)stored > levels)
            {
                stored = Half.BitIncrement(stored);
            }

            if (Half.IsInfinity(stored))
            {
                throw new ArgumentException($"A block spanning {range} needs a scale beyond fp16's range.", nameof(range));
            }

            return (float)stored;
        }

        while (range / scale > levels)
        {
            scale = MathF.BitIncrement(scale);
        }

        return scale;
    }

    private static float[] Transpose(float[] weights, int rows, int cols)
    {
        const int Tile = 32;
        var transposed = new float[weights.LongLength];
        Parallel.For(0, (rows + Tile - 1) / Tile, rowTile =>
        {
            var r0 = rowTile * Tile;
            var r1 = Math.Min(rows, r0 + Tile);
            for (var c0 = 0; c0 < cols; c0 += Tile)
            {
                var c1 = Math.Min(cols, c0 + Tile);
                for (var r = r0; r < r1; r++)
                {
                    for (var c = c0; c < c1; c++)
                    {
                        transposed[((long)c * rows) + r] = weights[((long)r * cols) + c];
                    }
                }
            }
        });
        return transposed;
    }
}
