using System.Buffers.Binary;
using System.Globalization;
using Onnx;

namespace Mesh.Backend.Quantizer;

/// <summary>
/// What the MatMul fusions need to know of a graph before rewriting it: its constants, which node makes each value, how
/// often each name is read, the static shapes, and names not yet taken.
/// </summary>
internal sealed class GraphIndex
{
    private readonly Dictionary<string, TensorProto> _initializers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TensorProto> _constants = new(StringComparer.Ordinal);
    private readonly HashSet<string> _overridable;
    private readonly Dictionary<string, int> _uses = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);
    private readonly HashSet<string> _names;

    public GraphIndex(ModelProto model)
    {
        var graph = model.Graph;
        foreach (var tensor in graph.Initializer)
        {
            _initializers.TryAdd(tensor.Name, tensor);
        }

        // From IR 4 on, an initializer listed as an input may be fed another value: not a constant.
        _overridable = model.IrVersion >= 4 ? [.. graph.Input.Select(i => i.Name)] : [];
        foreach (var node in graph.Node)
        {
            foreach (var output in node.Output.Where(o => o.Length > 0))
            {
                _producers[output] = node;
            }

            if (node is { OpType: "Constant", Output.Count: 1 } && node.Attribute.FirstOrDefault(a => a.Name == "value")?.T is { } value)
            {
                _constants[node.Output[0]] = value;
            }

            foreach (var input in node.Input.Where(i => i.Length > 0))
            {
                Use(input);
            }

            foreach (var name in OnnxNames.Subgraphs(node).SelectMany(OnnxNames.Referenced))
            {
                Use(name);
            }
        }

        foreach (var output in graph.Output)
        {
            Use(output.Name);
        }

        Shapes = StaticShapes.Infer(graph);
        _names = OnnxNames.All(model);
    }

    public Dictionary<string, Dimension[]> Shapes { get; }

    /// <summary>How many times <paramref name="name"/> is read: node inputs, graph outputs, and uses inside subgraphs.</summary>
    public int Uses(string name) => _uses.GetValueOrDefault(name);

    public NodeProto? Producer(string value) => _producers.GetValueOrDefault(value);

    /// <summary>
    /// A float weight only one node reads, fixed in the model and stored in it: an initializer no input overrides, 2-D,
    /// both dimensions at least <paramref name="minDimension"/>.
    /// </summary>
    public TensorProto? SoleWeight(string name, int minDimension) =>
        _initializers.TryGetValue(name, out var weight) && !_overridable.Contains(name) && Uses(name) == 1 && !TensorData.IsExternal(weight)
            && weight.DataType is TensorData.Float or TensorData.Float16 && weight.Dims.Count == 2
            && weight.Dims[0] >= minDimension && weight.Dims[1] >= minDimension
            ? weight
            : null;

    /// <summary>The value of a constant integer scalar (an initializer no input overrides, or a Constant node's output).</summary>
    public long? ScalarInteger(string name)
    {
        var tensor = _initializers.TryGetValue(name, out var initializer) && !_overridable.Contains(name) ? initializer : _constants.GetValueOrDefault(name);
        if (tensor is null || tensor.Dims.Count != 0 || TensorData.IsExternal(tensor))
        {
            return null;
        }

        return tensor.DataType switch
        {
            TensorData.Int64 when tensor.RawData.Length == 8 => BinaryPrimitives.ReadInt64LittleEndian(tensor.RawData.Span),
            TensorData.Int64 when tensor.Int64Data.Count == 1 => tensor.Int64Data[0],
            TensorData.Int32 when tensor.RawData.Length == 4 => BinaryPrimitives.ReadInt32LittleEndian(tensor.RawData.Span),
            TensorData.Int32 when tensor.Int32Data.Count == 1 => tensor.Int32Data[0],
            _ => null,
        };
    }

    /// <summary><paramref name="stem"/>, or with the first free numeric suffix; reserved from then on.</summary>
    public string Unique(string stem)
    {
        var name = stem;
        for (var i = 1; !_names.Add(name); i++)
        {
            name = stem + "_" + i.ToString(CultureInfo.InvariantCulture);
        }

        return name;
    }

    /// <summary>
    /// Swaps the weights a fusion absorbed for the ones it made, and forgets the declared types of values it removed.
    /// </summary>
    public static void ReplaceWeights(ModelProto model, IReadOnlySet<string> dropped, IReadOnlyList<TensorProto> added, IReadOnlySet<string> removedValues)
    {
        var graph = model.Graph;
        graph.Initializer.RemoveWhere(t => dropped.Contains(t.Name));
        graph.Initializer.AddRange(added);
        graph.ValueInfo.RemoveWhere(v => removedValues.Contains(v.Name) || dropped.Contains(v.Name));
        if (model.IrVersion < 4)
        {
            // Before IR 4 every initializer is also listed as an input.
            graph.Input.RemoveWhere(i => dropped.Contains(i.Name));
            graph.Input.AddRange(added.Select(OnnxNames.ValueInfoOf));
        }
    }

    private void Use(string name) => _uses[name] = _uses.GetValueOrDefault(name) + 1;
}
