using Onnx;

namespace Mesh.Backend.Quantizer;

/// <summary>
/// Stacks MatMuls that each multiply one slice of the same tensor, <c>MatMul(Gather(T, i, axis=0), W_i)</c> for every i
/// along T's first dimension, into one batched <c>MatMul(T, [W_0, ..., W_L-1])</c> whose slices replace them: a recurrent
/// model's per-layer state projections, for instance. None of them waits for another, so L small GEMMs on a decode step's
/// critical path become one large batched GEMM ahead of it, and a slice copy (a Gather) where each GEMM was. The stacked
/// weight is 3-D or more, which MatMulNBits cannot hold, so this is for fp32 graphs; quantized ones join pairs instead
/// (<see cref="SiblingMatMulFusion"/>).
/// </summary>
public static class StackedMatMulFusion
{
    /// <summary>Stacks every such group in the main graph of <paramref name="model"/>, in place; returns how many MatMuls.</summary>
    public static int Apply(ModelProto model, int minDimension)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = model.Graph ?? throw new ArgumentException("The model has no graph.", nameof(model));
        var index = new GraphIndex(model);
        var groups = graph.Node.Select(n => SliceProductOf(index, n, minDimension)).OfType<SliceProduct>()
            .GroupBy(s => s.Source, StringComparer.Ordinal)
            .Select(g => StackOf(index, [.. g]))
            .OfType<Stack>()
            .ToList();
        if (groups.Count == 0)
        {
            return 0;
        }

        var members = new Dictionary<NodeProto, (Stack Stack, SliceProduct Member)>(ReferenceEqualityComparer.Instance);
        foreach (var stack in groups)
        {
            foreach (var member in stack.Members)
            {
                members[member.MatMul] = (stack, member);
            }
        }

        // A slice read by its MatMul alone goes with it; one read elsewhere too stays.
        var absorbedGathers = new HashSet<NodeProto>(members.Values.Select(m => m.Member.Gather).Where(g => index.Uses(g.Output[0]) == 1), ReferenceEqualityComparer.Instance);
        var placed = new HashSet<Stack>(ReferenceEqualityComparer.Instance);
        var rewritten = new List<NodeProto>(graph.Node.Count + groups.Count);
        foreach (var node in graph.Node)
        {
            if (members.TryGetValue(node, out var entry))
            {
                // The stacked product goes where its group's first MatMul was: after the source, before every slice of it.
                var (stack, member) = entry;
                if (placed.Add(stack))
                {
                    rewritten.Add(stack.Product);
                }

                rewritten.Add(GatherOf(index, stack, member));
            }
            else if (!absorbedGathers.Contains(node))
            {
                rewritten.Add(node);
            }
        }

        graph.Node.Clear();
        graph.Node.AddRange(rewritten);
        GraphIndex.ReplaceWeights(
            model,
            members.Values.Select(m => m.Member.Weight.Name).ToHashSet(StringComparer.Ordinal),
            [.. groups.Select(g => g.Weight)],
            absorbedGathers.Select(g => g.Output[0]).ToHashSet(StringComparer.Ordinal));
        return members.Count;
    }

    /// <summary>A Gather of the member's slice from the stacked product, writing what the member's MatMul wrote.</summary>
    private static NodeProto GatherOf(GraphIndex index, Stack stack, SliceProduct member)
    {
        var stem = member.MatMul.Name.Length > 0 ? member.MatMul.Name : member.MatMul.Output[0];
        var slice = new NodeProto { OpType = "Gather", Name = index.Unique(stem + "_slice") };
        slice.Input.AddRange([stack.Product.Output[0], member.Gather.Input[1]]);
        slice.Output.Add(member.MatMul.Output[0]);
        slice.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 0 });
        return slice;
    }

    /// <summary>A MatMul of slice <see cref="Index"/> of <see cref="Source"/> (taken by <see cref="Gather"/>) and a constant weight.</summary>
    private sealed record SliceProduct(NodeProto MatMul, NodeProto Gather, string Source, long Index, TensorProto Weight);

    /// <summary>A group's batched MatMul and its stacked weight.</summary>
    private sealed record Stack(IReadOnlyList<SliceProduct> Members, NodeProto Product, TensorProto Weight);

    private static SliceProduct? SliceProductOf(GraphIndex index, NodeProto node, int minDimension)
    {
        if (node is not { OpType: "MatMul", Domain: "" or "ai.onnx", Input.Count: 2 }
            || index.Producer(node.Input[0]) is not { OpType: "Gather", Domain: "" or "ai.onnx", Input.Count: 2 } gather
            || (gather.Attribute.FirstOrDefault(a => a.Name == "axis")?.I ?? 0) != 0
            || index.ScalarInteger(gather.Input[1]) is not { } position
            || index.SoleWeight(node.Input[1], minDimension) is not { } weight)
        {
            return null;
        }

        return new SliceProduct(node, gather, gather.Input[0], position, weight);
    }

    /// <summary>
    /// The group's stack, when it takes every slice of a source whose first dimension (at least 2) and rank (at least 3, so
    /// each slice is a matrix or a batch of them) are known, once each, with weights of one shape and type.
    /// </summary>
    private static Stack? StackOf(GraphIndex index, IReadOnlyList<SliceProduct> group)
    {
        if (!index.Shapes.TryGetValue(group[0].Source, out var shape) || shape.Length < 3 || shape[0].Value is not { } layers || layers < 2 || group.Count != layers)
        {
            return null;
        }

        long Position(SliceProduct slice) => slice.Index < 0 ? slice.Index + layers : slice.Index;
        if (group.Select(Position).Order().Where((position, i) => position != i).Any()
            || group.Select(s => (s.Weight.DataType, s.Weight.Dims[0], s.Weight.Dims[1])).Distinct().Count() != 1
            || (shape[^1].Value is { } width && width != group[0].Weight.Dims[0]))
        {
            return null;
        }

        var (k, n) = (group[0].Weight.Dims[0], group[0].Weight.Dims[1]);
        var values = group.OrderBy(Position).SelectMany(s => TensorData.ReadFloats(s.Weight)).ToArray();
        // [L, 1, ..., 1, K, N]: MatMul broadcasts the source's middle dimensions against the ones.
        long[] dims = [layers, .. Enumerable.Repeat(1L, shape.Length - 3), k, n];
        var weight = TensorData.FloatTensor(index.Unique(group[0].Source + "_stacked_weights"), group[0].Weight.DataType, values, dims);
        var product = new NodeProto { OpType = "MatMul", Name = index.Unique(group[0].Source + "_stacked_matmul") };
        product.Input.AddRange([group[0].Source, weight.Name]);
        product.Output.Add(index.Unique(group[0].Source + "_stacked_product"));
        return new Stack(group, product, weight);
    }
}
