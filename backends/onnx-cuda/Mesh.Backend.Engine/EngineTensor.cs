using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

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

    internal static EngineTensor CopyFrom(string name, OrtValue value)
    {
        var info = value.GetTensorTypeAndShape();
        var shape = info.Shape;
        var element = ModelSignature.KindOf(info.ElementDataType);
        return info.ElementDataType switch
        {
            TensorElementType.Float => new EngineTensor(name, element, shape, value.GetTensorDataAsSpan<float>().ToArray()),
            TensorElementType.Double => new EngineTensor(name, element, shape, ConvertAll(value.GetTensorDataAsSpan<double>(), v => (float)v)),
            TensorElementType.Float16 => new EngineTensor(
                name, element, shape, ConvertAll(value.GetTensorDataAsSpan<ushort>(), v => (float)BitConverter.UInt16BitsToHalf(v))),
            TensorElementType.Int64 => new EngineTensor(name, element, shape, value.GetTensorDataAsSpan<long>().ToArray()),
            TensorElementType.Int32 => new EngineTensor(name, element, shape, ConvertAll(value.GetTensorDataAsSpan<int>(), v => (long)v)),
            TensorElementType.Bool => new EngineTensor(name, element, shape, ConvertAll(value.GetTensorDataAsSpan<byte>(), v => (long)v)),
            _ => throw new NotSupportedException($"Output '{name}' has element type {info.ElementDataType}, which the engine does not read."),
        };
    }

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
