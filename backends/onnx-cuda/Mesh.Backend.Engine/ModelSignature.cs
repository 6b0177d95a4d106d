using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Mesh.Backend.Engine;

/// <summary>Tensor element types the engine converts to and from.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720", Justification = "ONNX's element type names.")]
public enum ElementKind
{
    Float32,
    Float16,
    Float64,
    Int64,
    Int32,
    Bool,
    Other,
}

/// <summary>One input or output as the model declares it; -1 marks a dynamic dimension, named in <see cref="Symbols"/>.</summary>
public sealed record TensorSpec(string Name, ElementKind Element, IReadOnlyList<long> Shape)
{
    /// <summary>The export's name of each dimension ("" for fixed or unnamed ones).</summary>
    public IReadOnlyList<string> Symbols { get; init; } = [.. Shape.Select(_ => string.Empty)];

    /// <summary>The axis declared as <paramref name="symbol"/>, or -1.</summary>
    public int AxisOf(string symbol)
    {
        for (var i = 0; i < Symbols.Count; i++)
        {
            if (Symbols[i] == symbol)
            {
                return i;
            }
        }

        return -1;
    }

    public int Rank => Shape.Count;

    public bool IsInteger => Element is ElementKind.Int64 or ElementKind.Int32;

    public bool IsFloat => Element is ElementKind.Float32 or ElementKind.Float16 or ElementKind.Float64;

    public override string ToString() =>
        $"{Name} {Element.ToString().ToLowerInvariant()}[{string.Join(",", Shape.Select(d => d < 0 ? "?" : d.ToString(System.Globalization.CultureInfo.InvariantCulture)))}]";
}

/// <summary>A graph's inputs and outputs, read from the session's metadata (never assumed).</summary>
public sealed class ModelSignature
{
    public ModelSignature(IReadOnlyList<TensorSpec> inputs, IReadOnlyList<TensorSpec> outputs)
    {
        Inputs = inputs;
        Outputs = outputs;
    }

    public IReadOnlyList<TensorSpec> Inputs { get; }

    public IReadOnlyList<TensorSpec> Outputs { get; }

    public TensorSpec? Input(string name) => Inputs.FirstOrDefault(i => i.Name == name);

    public TensorSpec? Output(string name) => Outputs.FirstOrDefault(o => o.Name == name);

    public override string ToString() =>
        $"inputs: {string.Join(", ", Inputs)}; outputs: {string.Join(", ", Outputs)}";

    internal static ModelSignature Of(InferenceSession session) =>
        new([.. session.InputMetadata.Select(Spec)], [.. session.OutputMetadata.Select(Spec)]);

    internal static ElementKind KindOf(TensorElementType type) => type switch
    {
        TensorElementType.Float => ElementKind.Float32,
        TensorElementType.Float16 => ElementKind.Float16,
        TensorElementType.Double => ElementKind.Float64,
        TensorElementType.Int64 => ElementKind.Int64,
        TensorElementType.Int32 => ElementKind.Int32,
        TensorElementType.Bool => ElementKind.Bool,
        _ => ElementKind.Other,
    };

    internal static TensorElementType TypeOf(ElementKind kind) => kind switch
    {
        ElementKind.Float32 => TensorElementType.Float,
        ElementKind.Float16 => TensorElementType.Float16,
        ElementKind.Float64 => TensorElementType.Double,
        ElementKind.Int64 => TensorElementType.Int64,
        ElementKind.Int32 => TensorElementType.Int32,
        ElementKind.Bool => TensorElementType.Bool,
        _ => throw new NotSupportedException($"Element type {kind} is not supported."),
    };

    private static TensorSpec Spec(KeyValuePair<string, NodeMetadata> entry)
    {
        var metadata = entry.Value;
        var element = metadata.IsTensor ? KindOf(metadata.ElementDataType) : ElementKind.Other;
        return new TensorSpec(entry.Key, element, [.. metadata.Dimensions.Select(d => (long)d)])
        {
            Symbols = [.. metadata.SymbolicDimensions.Select(s => s ?? string.Empty)],
        };
    }
}
