using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace Mesh.Backend.Quantizer;

/// <summary>ONNX element types (TensorProto.DataType) and reading and writing initializer data.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720", Justification = "ONNX's element type names.")]
public static class TensorData
{
    public const int Float = 1;
    public const int UInt8 = 2;
    public const int Int8 = 3;
    public const int Int32 = 6;
    public const int Int64 = 7;
    public const int String = 8;
    public const int Bool = 9;
    public const int Float16 = 10;
    public const int Double = 11;
    public const int BFloat16 = 16;

    /// <summary>Bytes per element of a fixed-size type, or 0 (strings, sub-byte and unknown types).</summary>
    public static int ElementSize(int dataType) => dataType switch
    {
        Float or Int32 or 12 => 4,
        UInt8 or Int8 or Bool or 17 or 18 or 19 or 20 => 1,
        4 or 5 or Float16 or BFloat16 => 2,
        Int64 or Double or 13 or 14 => 8,
        15 => 16,
        _ => 0,
    };

    public static string TypeName(int dataType) => dataType switch
    {
        Float => "float32",
        UInt8 => "uint8",
        Int8 => "int8",
        Int32 => "int32",
        Int64 => "int64",
        String => "string",
        Bool => "bool",
        Float16 => "float16",
        Double => "float64",
        BFloat16 => "bfloat16",
        _ => "type " + dataType.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    public static long ElementCount(TensorProto tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        long count = 1;
        foreach (var d in tensor.Dims)
        {
            count = checked(count * d);
        }

        return count;
    }

    public static bool IsExternal(TensorProto tensor) =>
        tensor.DataLocation == TensorProto.Types.DataLocation.External || tensor.ExternalData.Count > 0;

    /// <summary>The bytes the tensor's values take in memory (not counting protobuf framing); 0 when unknown.</summary>
    public static long Bytes(TensorProto tensor) => ElementCount(tensor) * ElementSize(tensor.DataType);

    /// <summary>A float32 or float16 tensor's values as floats (raw data or the typed fields).</summary>
    public static float[] ReadFloats(TensorProto tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var count = ElementCount(tensor);
        switch (tensor.DataType)
        {
            case Float when !tensor.RawData.IsEmpty:
                return MemoryMarshal.Cast<byte, float>(RawOf(tensor, count * 4)).ToArray();
            case Float:
                return Checked(tensor, [.. tensor.FloatData], count);
            case Float16 when !tensor.RawData.IsEmpty:
                var halves = MemoryMarshal.Cast<byte, Half>(RawOf(tensor, count * 2));
                var values = new float[halves.Length];
                for (var i = 0; i < halves.Length; i++)
                {
                    values[i] = (float)halves[i];
                }

                return values;
            case Float16:
                // Typed fp16 values live in int32_data, one 16-bit pattern each.
                return Checked(tensor, [.. tensor.Int32Data.Select(bits => (float)BitConverter.UInt16BitsToHalf((ushort)bits))], count);
            default:
                throw new ArgumentException($"Initializer '{tensor.Name}' is {TypeName(tensor.DataType)}, not float32 or float16.", nameof(tensor));
        }
    }

    /// <summary>A tensor over <paramref name="raw"/> (little-endian element bytes), wrapped without a copy.</summary>
    public static TensorProto Tensor(string name, int dataType, byte[] raw, params long[] dims)
    {
        var tensor = new TensorProto { Name = name, DataType = dataType, RawData = UnsafeByteOperations.UnsafeWrap(raw) };
        tensor.Dims.AddRange(dims);
        return tensor;
    }

    /// <summary>Floats stored as <paramref name="dataType"/> (float32 or float16).</summary>
    public static TensorProto FloatTensor(string name, int dataType, ReadOnlySpan<float> values, params long[] dims)
    {
        if (dataType == Float16)
        {
            var halves = new Half[values.Length];
            for (var i = 0; i < values.Length; i++)
            {
                halves[i] = (Half)values[i];
            }

            return Tensor(name, dataType, MemoryMarshal.AsBytes(halves.AsSpan()).ToArray(), dims);
        }

        if (dataType != Float)
        {
            throw new ArgumentException($"{TypeName(dataType)} is not a float type.", nameof(dataType));
        }

        return Tensor(name, dataType, MemoryMarshal.AsBytes(values).ToArray(), dims);
    }

    private static ReadOnlySpan<byte> RawOf(TensorProto tensor, long bytes)
    {
        var raw = tensor.RawData.Span;
        if (raw.Length != bytes)
        {
            throw new ArgumentException($"Initializer '{tensor.Name}' has {raw.Length} bytes of data for {bytes} expected.", nameof(tensor));
        }

        return raw;
    }

    private static float[] Checked(TensorProto tensor, float[] values, long count) =>
        values.LongLength == count
            ? values
            : throw new ArgumentException($"Initializer '{tensor.Name}' has {values.LongLength} values for {count} expected.", nameof(tensor));
}
