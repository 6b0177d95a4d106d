using System.Globalization;
using Onnx;

namespace Mesh.Backend.Quantizer;

/// <summary>
/// Joins two MatMuls whose products are only added, <c>Add(MatMul(a, W1), MatMul(b, W2))</c> with constant weights of the
/// same width, into <c>MatMul(Concat(a, b), [W1; W2])</c>: a recurrent cell's input and state projections, for instance.
/// Quantized, the pair becomes one MatMulNBits instead of two plus an Add. A one-row MatMulNBits on the GPU costs its
/// launch and latency more than its bytes, so a decode step loses a kernel and most of its cost per pair.
/// It fuses only where <see cref="StaticShapes"/> proves that a and b agree on every dimension but the last, since
/// Concat, unlike Add, does not broadcast; and only weights used nowhere else, so none is stored twice.
/// </summary>
public static class SiblingMatMulFusion
{
    /// <summary>Fuses every such pair in the main graph of <paramref name="model"/>, in place; returns how many.</summary>
    public static int Apply(ModelProto model, int minDimension)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = model.Graph ?? throw new ArgumentException("The model has no graph.", nameof(model));
        var fusion = new Fusion(model, minDimension);
        var rewritten = new List<NodeProto>(graph.Node.Count);
        var absorbed = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        foreach (var node in graph.Node)
        {
            if (fusion.Pair(node) is { } pair)
            {
                absorbed.Add(pair.First.Node);
                absorbed.Add(pair.Second.Node);
                rewritten.AddRange(fusion.Join(node, pair));
            }
            else
            {
                rewritten.Add(node);
            }
        }

        if (absorbed.Count == 0)
        {
            return 0;
        }

        // The MatMuls come before their Add, so they were copied before it was found to absorb them.
        graph.Node.Clear();
        graph.Node.AddRange(rewritten.Where(n => !absorbed.Contains(n)));
        var weights = absorbed.Select(n => n.Input[1]).ToHashSet(StringComparer.Ordinal);
        graph.Initializer.RemoveWhere(t => weights.Contains(t.Name));
        graph.Initializer.AddRange(fusion.Weights);
        var products = absorbed.Select(n => n.Output[0]).ToHashSet(StringComparer.Ordinal);
        graph.ValueInfo.RemoveWhere(v => products.Contains(v.Name) || weights.Contains(v.Name));
        if (model.IrVersion < 4)
        {
            // Before IR 4 every initializer is also listed as an input.
            graph.Input.RemoveWhere(i => weights.Contains(i.Name));
            graph.Input.AddRange(fusion.Weights.Select(OnnxNames.ValueInfoOf));
        }

        return fusion.Weights.Count;
    }

    /// <summary>One of the two MatMuls: the node and its constant [K, N] weight.</summary>
    private sealed record Projection(NodeProto Node, TensorProto Weight)
    {
        public long K => Weight.Dims[0];

        public long N => Weight.Dims[1];
    }

    private sealed record SiblingPair(Projection First, Projection Second);

    private sealed class Fusion
    {
        private readonly int _minDimension;
        private readonly Dictionary<string, TensorProto> _initializers = new(StringComparer.Ordinal);
        private readonly HashSet<string> _overridable;
        private readonly Dictionary<string, int> _uses;
        private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);
        private readonly Dictionary<string, Dimension[]> _shapes;
        private readonly HashSet<string> _names;

        public Fusion(ModelProto model, int minDimension)
        {
            _minDimension = minDimension;
            var graph = model.Graph;
            foreach (var tensor in graph.Initializer)
            {
                _initializers.TryAdd(tensor.Name, tensor);
            }

            // From IR 4 on, an initializer listed as an input may be fed another value: not a constant.
            _overridable = model.IrVersion >= 4 ? [.. graph.Input.Select(i => i.Name)] : [];
            _uses = Uses(graph);
            foreach (var node in graph.Node)
            {
                foreach (var output in node.Output.Where(o => o.Length > 0))
                {
                    _producers[output] = node;
                }
            }

            _shapes = StaticShapes.Infer(graph);
            _names = OnnxNames.All(model);
        }

        public List<TensorProto> Weights { get; } = [];

        public SiblingPair? Pair(NodeProto add)
        {
            if (add is not { OpType: "Add", Domain: "" or "ai.onnx", Input.Count: 2 } || add.Input[0] == add.Input[1]
                || Projection(add.Input[0]) is not { } first || Projection(add.Input[1]) is not { } second
                || first.Weight.Name == second.Weight.Name || first.Weight.DataType != second.Weight.DataType || first.N != second.N)
            {
                return null;
            }

            return _shapes.TryGetValue(first.Node.Input[0], out var a) && _shapes.TryGetValue(second.Node.Input[0], out var b)
                && a.Length == b.Length && a.Length > 0 && a[..^1].Zip(b[..^1]).All(d => d.First.SameAs(d.Second))
                ? new SiblingPair(first, second)
                : null;
        }

        /// <summary>Concat(a, b) on the last axis, then one MatMul with the stacked weight, writing the Add's output.</summary>
        public NodeProto[] Join(NodeProto add, SiblingPair pair)
        {
            var (first, second) = (pair.First, pair.Second);
            var rank = _shapes[first.Node.Input[0]].Length;
            var stacked = TensorData.ReadFloats(first.Weight).Concat(TensorData.ReadFloats(second.Weight)).ToArray();
            var weight = TensorData.FloatTensor(Unique(first.Weight.Name + "_stacked"), first.Weight.DataType, stacked, first.K + second.K, first.N);
            Weights.Add(weight);
            var stem = add.Name.Length > 0 ? add.Name : add.Output[0];
            var concat = new NodeProto { OpType = "Concat", Name = Unique(stem + "_concat") };
            concat.Input.AddRange([first.Node.Input[0], second.Node.Input[0]]);
            concat.Output.Add(Unique(add.Output[0] + "_concat"));
            concat.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = rank - 1 });
            var matmul = new NodeProto { OpType = "MatMul", Name = Unique(stem + "_matmul"), DocString = first.Node.DocString };
            matmul.Input.AddRange([concat.Output[0], weight.Name]);
            matmul.Output.Add(add.Output[0]);
            return [concat, matmul];
        }

        /// <summary>A MatMul producing <paramref name="value"/> for this Add only, with a weight it alone reads.</summary>
        private Projection? Projection(string value)
        {
            if (_uses.GetValueOrDefault(value) != 1 || !_producers.TryGetValue(value, out var node)
                || node is not { OpType: "MatMul", Domain: "" or "ai.onnx", Input.Count: 2 }
                || !_initializers.TryGetValue(node.Input[1], out var weight) || _overridable.Contains(weight.Name)
                || _uses.GetValueOrDefault(weight.Name) != 1 || TensorData.IsExternal(weight)
                || weight.DataType is not (TensorData.Float or TensorData.Float16) || weight.Dims.Count != 2
                || weight.Dims[0] < _minDimension || weight.Dims[1] < _minDimension)
            {
                return null;
            }

            return new Projection(node, weight);
        }

        private string Unique(string stem)
        {
            var name = stem;
            for (var i = 1; !_names.Add(name); i++)
            {
                name = stem + "_" + i.ToString(CultureInfo.InvariantCulture);
            }

            return name;
        }

        /// <summary>How many times each name is read: node inputs, graph outputs, and any use inside a subgraph.</summary>
        private static Dictionary<string, int> Uses(GraphProto graph)
        {
            var uses = new Dictionary<string, int>(StringComparer.Ordinal);
            void Use(string name) => uses[name] = uses.GetValueOrDefault(name) + 1;
            foreach (var node in graph.Node)
            {
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

            return uses;
        }
    }
}
