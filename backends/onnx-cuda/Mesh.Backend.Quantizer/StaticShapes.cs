using System.Runtime.InteropServices;
using Onnx;

namespace Mesh.Backend.Quantizer;

/// <summary>A dimension known by its value or by its symbolic name (<c>batch</c>); neither means unknown.</summary>
public readonly record struct Dimension(long? Value, string? Symbol)
{
    public static Dimension Unknown => default;

    public static Dimension Of(long value) => new(value, null);

    /// <summary>True only when both are provably the same size: equal values, or the same symbol.</summary>
    public bool SameAs(Dimension other) =>
        (Value is { } value && other.Value == value) || (Symbol is { Length: > 0 } symbol && other.Symbol == symbol);
}

/// <summary>
/// The shapes a graph's values are known to have without running it: declared inputs and value infos, initializers and
/// Constant nodes, followed through the ops a rewrite needs to reason about (elementwise, MatMul, Gather, Squeeze,
/// Unsqueeze, Concat, Transpose). A value is absent when its rank is not known; a dimension is
/// <see cref="Dimension.Unknown"/> when only its existence is.
/// </summary>
public static class StaticShapes
{
    private static readonly HashSet<string> ShapePreserving =
    [
        "Tanh", "Relu", "Sigmoid", "Gelu", "Erf", "Neg", "Abs", "Exp", "Log", "Sqrt", "Reciprocal", "Identity", "Cast",
        "LeakyRelu", "Elu", "Selu", "Softplus", "Softsign", "HardSigmoid", "Clip", "Floor", "Ceil", "Round", "Sin", "Cos",
        "Softmax", "LogSoftmax", "LayerNormalization", "Dropout",
    ];

    private static readonly HashSet<string> Broadcasting = ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Where"];

    public static Dictionary<string, Dimension[]> Infer(GraphProto graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var shapes = new Dictionary<string, Dimension[]>(StringComparer.Ordinal);
        var constants = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var tensor in graph.Initializer)
        {
            constants.TryAdd(tensor.Name, tensor);
            shapes[tensor.Name] = [.. tensor.Dims.Select(Dimension.Of)];
        }

        foreach (var value in graph.Input.Concat(graph.ValueInfo))
        {
            if (Declared(value) is { } dims)
            {
                shapes[value.Name] = dims;
            }
        }

        foreach (var node in graph.Node)
        {
            if (node.Output.Count == 0 || node.Output[0].Length == 0 || shapes.ContainsKey(node.Output[0]))
            {
                continue;
            }

            if (node.OpType == "Constant" && node.Attribute.FirstOrDefault(a => a.Name == "value")?.T is { } constant)
            {
                constants[node.Output[0]] = constant;
                shapes[node.Output[0]] = [.. constant.Dims.Select(Dimension.Of)];
            }
            else if (Output(node, shapes, constants) is { } dims)
            {
                shapes[node.Output[0]] = dims;
            }
        }

        return shapes;
    }

    private static Dimension[]? Declared(ValueInfoProto value)
    {
        if (value.Type?.TensorType?.Shape is not { } shape)
        {
            return null;
        }

        return [.. shape.Dim.Select(d => d.ValueCase switch
        {
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue => Dimension.Of(d.DimValue),
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam => new Dimension(null, d.DimParam),
            _ => Dimension.Unknown,
        })];
    }

    private static Dimension[]? Output(NodeProto node, Dictionary<string, Dimension[]> shapes, Dictionary<string, TensorProto> constants)
    {
        Dimension[]? In(int index) => index < node.Input.Count && shapes.TryGetValue(node.Input[index], out var shape) ? shape : null;
        if (node.Domain == MatMulNBitsRewriter.MicrosoftDomain && node.OpType == MatMulNBitsRewriter.OpType)
        {
            return In(0) is { Length: > 0 } a ? [.. a[..^1], Dimension.Of(Attribute(node, "N", 0))] : null;
        }

        if (node.Domain is not ("" or "ai.onnx"))
        {
            return null;
        }

        return node.OpType switch
        {
            var op when ShapePreserving.Contains(op) => In(0),
            var op when Broadcasting.Contains(op) => node.Input.Select((_, i) => In(i)).Aggregate(Broadcast),
            "MatMul" => In(0) is { Length: > 0 } a && In(1) is { Length: 2 } b ? [.. a[..^1], b[1]] : null,
            "Gather" => Gather(In(0), In(1), Attribute(node, "axis", 0)),
            "Squeeze" => Axes(node, constants) is { } axes ? Squeeze(In(0), axes) : null,
            "Unsqueeze" => Axes(node, constants) is { } axes ? Unsqueeze(In(0), axes) : null,
            "Concat" => Concat([.. node.Input.Select((_, i) => In(i))], Attribute(node, "axis", 0)),
            "Transpose" => Transpose(In(0), node.Attribute.FirstOrDefault(a => a.Name == "perm")?.Ints),
            _ => null,
        };
    }

    private static Dimension[]? Broadcast(Dimension[]? a, Dimension[]? b)
    {
        if (a is null || b is null)
        {
            return null;
        }

        var rank = Math.Max(a.Length, b.Length);
        var result = new Dimension[rank];
        for (var i = 1; i <= rank; i++)
        {
            var x = i <= a.Length ? a[^i] : Dimension.Of(1);
            var y = i <= b.Length ? b[^i] : Dimension.Of(1);
            result[^i] = x.SameAs(y) || y.Value == 1 ? x : x.Value == 1 ? y : Dimension.Unknown;
        }

        return result;
    }

    private static Dimension[]? Gather(Dimension[]? data, Dimension[]? indices, long axis) =>
        data is null || indices is null || Normalize(axis, data.Length) is not { } at
            ? null
            : [.. data[..at], .. indices, .. data[(at + 1)..]];

    private static Dimension[]? Squeeze(Dimension[]? data, long[] axes)
    {
        if (data is null)
        {
            return null;
        }

        var removed = axes.Select(a => Normalize(a, data.Length)).ToArray();
        return removed.Any(a => a is null) ? null : [.. data.Where((_, i) => !removed.Contains(i))];
    }

    private static Dimension[]? Unsqueeze(Dimension[]? data, long[] axes)
    {
        if (data is null)
        {
            return null;
        }

        var rank = data.Length + axes.Length;
        var inserted = axes.Select(a => Normalize(a, rank)).ToArray();
        if (inserted.Any(a => a is null) || inserted.Distinct().Count() != inserted.Length)
        {
            return null;
        }

        var result = new Dimension[rank];
        var next = 0;
        for (var i = 0; i < rank; i++)
        {
            result[i] = inserted.Contains(i) ? Dimension.Of(1) : data[next++];
        }

        return result;
    }

    private static Dimension[]? Concat(Dimension[]?[] inputs, long axis)
    {
        if (inputs.Length == 0 || inputs.Any(s => s is null) || inputs.Select(s => s!.Length).Distinct().Count() != 1
            || Normalize(axis, inputs[0]!.Length) is not { } at)
        {
            return null;
        }

        var result = inputs[0]!.ToArray();
        var lengths = inputs.Select(s => s![at].Value).ToArray();
        result[at] = lengths.All(l => l is not null) ? Dimension.Of(lengths.Sum(l => l!.Value)) : Dimension.Unknown;
        return result;
    }

    private static Dimension[]? Transpose(Dimension[]? data, Google.Protobuf.Collections.RepeatedField<long>? perm) =>
        data is null ? null
        : perm is null or { Count: 0 } ? [.. data.Reverse()]
        : perm.Count == data.Length && perm.All(p => p >= 0 && p < data.Length) ? [.. perm.Select(p => data[p])]
        : null;

    /// <summary>Squeeze's and Unsqueeze's axes: an attribute before opset 13, a constant second input from then on.</summary>
    private static long[]? Axes(NodeProto node, Dictionary<string, TensorProto> constants)
    {
        if (node.Attribute.FirstOrDefault(a => a.Name == "axes") is { } attribute)
        {
            return [.. attribute.Ints];
        }

        return node.Input.Count > 1 && constants.TryGetValue(node.Input[1], out var tensor) ? Int64s(tensor) : null;
    }

    private static long[]? Int64s(TensorProto tensor) =>
        tensor.DataType != TensorData.Int64 ? null
        : !tensor.RawData.IsEmpty ? MemoryMarshal.Cast<byte, long>(tensor.RawData.Span).ToArray()
        : [.. tensor.Int64Data];

    private static int? Normalize(long axis, int rank)
    {
        var at = axis < 0 ? axis + rank : axis;
        return at >= 0 && at < rank ? (int)at : null;
    }

    private static long Attribute(NodeProto node, string name, long fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.I : fallback;
}
