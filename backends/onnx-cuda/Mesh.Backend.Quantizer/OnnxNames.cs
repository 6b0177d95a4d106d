using Onnx;

namespace Mesh.Backend.Quantizer;

/// <summary>Walks the names of an ONNX model: values, subgraphs, and which names nodes and outputs use.</summary>
public static class OnnxNames
{
    /// <summary>Every value and node name anywhere in the model, subgraphs included, so new names never collide.</summary>
    public static HashSet<string> All(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var names = new HashSet<string>(StringComparer.Ordinal);
        Collect(model.Graph, names);
        return names;
    }

    /// <summary>The If/Loop/Scan bodies held in a node's attributes.</summary>
    public static IEnumerable<GraphProto> Subgraphs(NodeProto node)
    {
        ArgumentNullException.ThrowIfNull(node);
        foreach (var attribute in node.Attribute)
        {
            if (attribute.G is not null)
            {
                yield return attribute.G;
            }

            foreach (var graph in attribute.Graphs)
            {
                yield return graph;
            }
        }
    }

    /// <summary>Names the graph's nodes (and their subgraphs' nodes, which may use outer values) read, and its outputs.</summary>
    public static HashSet<string> Referenced(GraphProto graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var output in graph.Output)
        {
            used.Add(output.Name);
        }

        AddInputs(graph, used);
        return used;
    }

    /// <summary>A value info with the tensor's type and shape.</summary>
    public static ValueInfoProto ValueInfoOf(TensorProto tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var shape = new TensorShapeProto();
        foreach (var dim in tensor.Dims)
        {
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = dim });
        }

        return new ValueInfoProto
        {
            Name = tensor.Name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = tensor.DataType, Shape = shape } },
        };
    }

    private static void AddInputs(GraphProto graph, HashSet<string> used)
    {
        foreach (var node in graph.Node)
        {
            foreach (var input in node.Input)
            {
                if (input.Length > 0)
                {
                    used.Add(input);
                }
            }

            foreach (var subgraph in Subgraphs(node))
            {
                AddInputs(subgraph, used);
                foreach (var output in subgraph.Output)
                {
                    used.Add(output.Name);
                }
            }
        }
    }

    private static void Collect(GraphProto? graph, HashSet<string> names)
    {
        if (graph is null)
        {
            return;
        }

        names.UnionWith(graph.Input.Select(i => i.Name));
        names.UnionWith(graph.Output.Select(o => o.Name));
        names.UnionWith(graph.ValueInfo.Select(v => v.Name));
        names.UnionWith(graph.Initializer.Select(i => i.Name));
        foreach (var node in graph.Node)
        {
            names.Add(node.Name);
            names.UnionWith(node.Input);
            names.UnionWith(node.Output);
            foreach (var subgraph in Subgraphs(node))
            {
                Collect(subgraph, names);
            }
        }
    }
}
