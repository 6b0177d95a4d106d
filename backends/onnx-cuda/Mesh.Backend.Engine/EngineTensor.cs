using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace Mesh.Backend.Engine;

/// <summary>An output copied out of ONNX Runtime's memory: floats for floating types, longs for integers and bools.</summary>
public sealed class EngineTensor
{
    private readonly float[]? _floats;
    private readonly long[]? _integers;

    public EngineTensor(string name, ElementKind element, long[] shape, float[] values)
    {
        Name = name;
        Element = element;
        Shape = shape;
        _floats = values;
    }

    public EngineTensor(string name, ElementKind element, long[] shape, long[] values)
    {
        Name = name;
        Element = element;
        Shape = shape;
        _integers = values;
    }

    public string Name { get; }

    public ElementKind Element { get; }

    public IReadOnlyList<long> Shape { get; }

    public int Length => _floats?.Length ?? _integers!.Length;

    /// <summary>The values as floats (integers converted).</summary>
    public float[] ToFloats() => _floats ?? [.. _integers!.Select(v => (float)v)];

    /// <summary>The values as longs (floats rounded).</summary>
    public long[] ToInt64s() => _integers ?? [.. _floats!.Select(v => (long)MathF.Round(v))];

    public static EngineTensor CopyFrom(string name, OrtValue value)
    {
        var info = value.GetTensorTypeAndShape();
        return FromBytes(name, ModelSignature.KindOf(info.ElementDataType), info.Shape, value.GetTensorDataAsSpan<byte>());
    }

    /// <summary>Copies <paramref name="bytes"/>, laid out as <paramref name="element"/> values, into a tensor.</summary>
    internal static EngineTensor FromBytes(string name, ElementKind element, long[] shape, ReadOnlySpan<byte> bytes) => element switch
    {
        ElementKind.Float32 => new EngineTensor(name, element, shape, MemoryMarshal.Cast<byte, float>(bytes).ToArray()),
        ElementKind.Float64 => new EngineTensor(name, element, shape, ConvertAll(MemoryMarshal.Cast<byte, double>(bytes), v => (float)v)),
        ElementKind.Float16 => new EngineTensor(name, element, shape, ConvertAll(MemoryMarshal.Cast<byte, Half>(bytes), v => (float)v)),
        ElementKind.Int64 => new EngineTensor(name, element, shape, MemoryMarshal.Cast<byte, long>(bytes).ToArray()),
        ElementKind.Int32 => new EngineTensor(name, element, shape, ConvertAll(MemoryMarshal.Cast<byte, int>(bytes), v => (long)v)),
        ElementKind.Bool => new EngineTensor(name, element, shape, ConvertAll(bytes, v => (long)v)),
        _ => throw new NotSupportedException($"Output '{name}' has element type {element}, which the engine does not read."),
    };

    private static TOut[] ConvertAll<TIn, TOut>(ReadOnlySpan<TIn> source, Func<TIn, TOut> convert)
    {
        var result = new TOut[source.Length];
        for (var i = 0; i < source.Length; i++)
        {
            result[i] = convert(source[i]);
        }

        return result;
    }
}

/// <summary>The outputs of one run, by name.</summary>
public sealed class EngineOutputs(IReadOnlyList<EngineTensor> tensors)
{
    public IReadOnlyList<EngineTensor> All => tensors;

    public EngineTensor this[string name] =>
        tensors.FirstOrDefault(t => t.Name == name) ?? throw new KeyNotFoundException($"The model has no output '{name}'.");
}
