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
        GraphIndex.ReplaceWeights(
            model, absorbed.Select(n => n.Input[1]).ToHashSet(StringComparer.Ordinal), fusion.Weights, absorbed.Select(n => n.Output[0]).ToHashSet(StringComparer.Ordinal));
        return fusion.Weights.Count;
    }

    /// <summary>One of the two MatMuls: the node and its constant [K, N] weight.</summary>
    private sealed record Projection(NodeProto Node, TensorProto Weight)
    {
        public long K => Weight.Dims[0];

        public long N => Weight.Dims[1];
    }

    private sealed record SiblingPair(Projection First, Projection Second);

    private sealed class Fusion(ModelProto model, int minDimension)
    {
        private readonly GraphIndex _graph = new(model);

        public List<TensorProto> Weights { get; } = [];

        public SiblingPair? Pair(NodeProto add)
        {
            if (add is not { OpType: "Add", Domain: "" or "ai.onnx", Input.Count: 2 } || add.Input[0] == add.Input[1]
                || Projection(add.Input[0]) is not { } first || Projection(add.Input[1]) is not { } second
                || first.Weight.Name == second.Weight.Name || first.Weight.DataType != second.Weight.DataType || first.N != second.N)
            {
                return null;
            }

            return _graph.Shapes.TryGetValue(first.Node.Input[0], out var a) && _graph.Shapes.TryGetValue(second.Node.Input[0], out var b)
                && a.Length == b.Length && a.Length > 0 && a[..^1].Zip(b[..^1]).All(d => d.First.SameAs(d.Second))
                ? new SiblingPair(first, second)
                : null;
        }

        /// <summary>Concat(a, b) on the last axis, then one MatMul with the stacked weight, writing the Add's output.</summary>
        public NodeProto[] Join(NodeProto add, SiblingPair pair)
        {
            var (first, second) = (pair.First, pair.Second);
            var rank = _graph.Shapes[first.Node.Input[0]].Length;
            var stacked = TensorData.ReadFloats(first.Weight).Concat(TensorData.ReadFloats(second.Weight)).ToArray();
            var weight = TensorData.FloatTensor(_graph.Unique(first.Weight.Name + "_stacked"), first.Weight.DataType, stacked, first.K + second.K, first.N);
            Weights.Add(weight);
            var stem = add.Name.Length > 0 ? add.Name : add.Output[0];
            var concat = new NodeProto { OpType = "Concat", Name = _graph.Unique(stem + "_concat") };
            concat.Input.AddRange([first.Node.Input[0], second.Node.Input[0]]);
            concat.Output.Add(_graph.Unique(add.Output[0] + "_concat"));
            concat.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = rank - 1 });
            var matmul = new NodeProto { OpType = "MatMul", Name = _graph.Unique(stem + "_matmul"), DocString = first.Node.DocString };
            matmul.Input.AddRange([concat.Output[0], weight.Name]);
            matmul.Output.Add(add.Output[0]);
            return [concat, matmul];
        }

        /// <summary>A MatMul producing <paramref name="value"/> for this Add only, with a weight it alone reads.</summary>
        private Projection? Projection(string value) =>
            _graph.Uses(value) == 1 && _graph.Producer(value) is { OpType: "MatMul", Domain: "" or "ai.onnx", Input.Count: 2 } node
                && _graph.SoleWeight(node.Input[1], minDimension) is { } weight
                ? new Projection(node, weight)
                : null;
    }
}
