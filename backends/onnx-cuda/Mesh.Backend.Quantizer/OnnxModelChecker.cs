using System.Globalization;
using Onnx;

namespace Mesh.Backend.Quantizer;

/// <summary>
/// The structural checks of ONNX's model checker that matter after a rewrite, plus MatMulNBits' input contract: opset
/// imports cover every node's domain; each value is assigned once and produced before it is read (topological order,
/// outer scopes visible to subgraphs); graph outputs exist; initializers are unique, sized as their dims say, and used;
/// element types agree where they can be inferred. An empty list means no problem was found.
/// </summary>
public static class OnnxModelChecker
{
    // Ops whose output has the element type of their first input (enough to follow activations through these graphs).
    private static readonly HashSet<string> SameTypeOps =
    [
        "MatMul", "MatMulNBits", "Gemm", "Add", "Sub", "Mul", "Div", "Relu", "Tanh", "Sigmoid", "Neg", "Abs", "Exp", "Log",
        "Sqrt", "Pow", "Erf", "Gelu", "Softmax", "LayerNormalization", "Squeeze", "Unsqueeze", "Reshape", "Transpose",
        "Flatten", "Concat", "Slice", "Gather", "Expand", "Identity", "Max", "Min", "Round", "Ceil", "Floor", "Clip",
        "Where", "Conv", "ConvTranspose", "Pad", "LeakyRelu", "Tile", "ReduceMean", "ReduceSum", "CumSum",
    ];

    public static IReadOnlyList<string> Check(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var problems = new List<string>();
        if (model.IrVersion < 3)
        {
            problems.Add($"ir_version {model.IrVersion} is below 3.");
        }

        var opsets = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var opset in model.OpsetImport)
        {
            if (!opsets.TryAdd(Domain(opset.Domain), opset.Version))
            {
                problems.Add($"opset_import lists domain '{opset.Domain}' twice.");
            }
        }

        if (!opsets.ContainsKey(string.Empty))
        {
            problems.Add("opset_import has no default (ai.onnx) domain.");
        }

        if (model.Graph is null)
        {
            problems.Add("The model has no graph.");
            return problems;
        }

        new GraphCheck(problems, opsets, model.IrVersion >= 4).Run(model.Graph, new HashSet<string>(StringComparer.Ordinal), "graph");
        return problems;
    }

    private static string Domain(string domain) => domain == "ai.onnx" ? string.Empty : domain;

    /// <param name="inputsOverride">From IR 4 on, an initializer listed as an input is a default the caller may replace,
    /// so it belongs to the model's interface whether or not a node reads it.</param>
    private sealed class GraphCheck(List<string> problems, Dictionary<string, long> opsets, bool inputsOverride)
    {
        public void Run(GraphProto graph, HashSet<string> outer, string where)
        {
            var defined = new HashSet<string>(outer, StringComparer.Ordinal);
            var types = new Dictionary<string, int>(StringComparer.Ordinal);
            var initializers = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
            foreach (var tensor in graph.Initializer)
            {
                if (!initializers.TryAdd(tensor.Name, tensor))
                {
                    problems.Add($"{where}: initializer '{tensor.Name}' is defined twice.");
                }

                CheckData(tensor, where);
                defined.Add(tensor.Name);
                types[tensor.Name] = tensor.DataType;
            }

            var inputs = new HashSet<string>(StringComparer.Ordinal);
            foreach (var input in graph.Input)
            {
                if (!inputs.Add(input.Name))
                {
                    problems.Add($"{where}: input '{input.Name}' is declared twice.");
                }

                defined.Add(input.Name);
                Declare(types, input);
            }

            foreach (var info in graph.ValueInfo.Concat(graph.Output))
            {
                Declare(types, info);
            }

            var assigned = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < graph.Node.Count; i++)
            {
                var node = graph.Node[i];
                var label = string.Create(CultureInfo.InvariantCulture, $"{where}: node {i} '{node.Name}' ({node.OpType})");
                if (!opsets.ContainsKey(Domain(node.Domain)))
                {
                    problems.Add($"{label}: domain '{node.Domain}' is not in opset_import.");
                }

                foreach (var input in node.Input)
                {
                    if (input.Length > 0 && !defined.Contains(input))
                    {
                        problems.Add($"{label}: input '{input}' is not produced before this node.");
                    }
                }

                foreach (var subgraph in OnnxNames.Subgraphs(node))
                {
                    Run(subgraph, defined, $"{label} body '{subgraph.Name}'");
                }

                foreach (var output in node.Output.Where(o => o.Length > 0))
                {
                    if (!assigned.Add(output) || initializers.ContainsKey(output) || inputs.Contains(output))
                    {
                        problems.Add($"{label}: output '{output}' is assigned more than once.");
                    }

                    defined.Add(output);
                }

                if (node.OpType == MatMulNBitsRewriter.OpType && node.Domain == MatMulNBitsRewriter.MicrosoftDomain)
                {
                    CheckMatMulNBits(node, label, initializers, types);
                }

                Infer(node, types);
            }

            foreach (var output in graph.Output.Where(o => !defined.Contains(o.Name)))
            {
                problems.Add($"{where}: output '{output.Name}' is never produced.");
            }

            var used = OnnxNames.Referenced(graph);
            foreach (var name in initializers.Keys.Where(n => !used.Contains(n) && !(inputsOverride && inputs.Contains(n))))
            {
                problems.Add($"{where}: initializer '{name}' is not used.");
            }
        }

        private void CheckData(TensorProto tensor, string where)
        {
            if (TensorData.IsExternal(tensor) || tensor.DataType == TensorData.String)
            {
                return;
            }

            var count = TensorData.ElementCount(tensor);
            var size = TensorData.ElementSize(tensor.DataType);
            if (!tensor.RawData.IsEmpty)
            {
                if (size > 0 && tensor.RawData.Length != count * size)
                {
                    problems.Add($"{where}: initializer '{tensor.Name}' has {tensor.RawData.Length} bytes for {count} × {size}.");
                }

                return;
            }

            long typed = tensor.FloatData.Count + tensor.Int32Data.Count + tensor.Int64Data.Count + tensor.DoubleData.Count + tensor.Uint64Data.Count;
            if (typed != count)
            {
                problems.Add($"{where}: initializer '{tensor.Name}' has {typed} values for shape [{string.Join(",", tensor.Dims)}].");
            }
        }

        private void CheckMatMulNBits(NodeProto node, string label, Dictionary<string, TensorProto> initializers, Dictionary<string, int> types)
        {
            long Attribute(string name)
            {
                var attribute = node.Attribute.FirstOrDefault(a => a.Name == name);
                if (attribute is null)
                {
                    problems.Add($"{label}: attribute {name} is missing.");
                    return -1;
                }

                return attribute.I;
            }

            var k = Attribute("K");
            var n = Attribute("N");
            var bits = Attribute("bits");
            var blockSize = Attribute("block_size");
            if (node.Input.Count is < 3 or > 6 || node.Output.Count != 1)
            {
                problems.Add($"{label}: takes 3 to 6 inputs and gives 1 output; has {node.Input.Count} and {node.Output.Count}.");
                return;
            }

            if (bits is not (4 or 8) || blockSize < 16 || (blockSize & (blockSize - 1)) != 0 || k < 1 || n < 1)
            {
                problems.Add($"{label}: K={k} N={n} bits={bits} block_size={blockSize} is not a valid MatMulNBits.");
                return;
            }

            var blocks = (k + blockSize - 1) / blockSize;
            var blob = blockSize * bits / 8;
            Expect(initializers, node.Input[1], TensorData.UInt8, [n, blocks, blob], label, "B");
            var scales = initializers.GetValueOrDefault(node.Input[2]);
            if (scales is null)
            {
                problems.Add($"{label}: scales '{node.Input[2]}' is not an initializer.");
                return;
            }

            if (scales.DataType is not (TensorData.Float or TensorData.Float16 or TensorData.BFloat16))
            {
                problems.Add($"{label}: scales are {TensorData.TypeName(scales.DataType)}, not a float type.");
            }

            if (!SameDims(scales, [n, blocks]) && !SameDims(scales, [n * blocks]))
            {
                problems.Add($"{label}: scales have shape [{string.Join(",", scales.Dims)}], not [{n},{blocks}].");
            }

            if (node.Input.Count > 3 && node.Input[3].Length > 0)
            {
                var zeroPoints = initializers.GetValueOrDefault(node.Input[3]);
                if (zeroPoints is null)
                {
                    problems.Add($"{label}: zero points '{node.Input[3]}' is not an initializer.");
                }
                else if (zeroPoints.DataType == TensorData.UInt8)
                {
                    var packedBlocks = ((blocks * bits) + 7) / 8;
                    if (!SameDims(zeroPoints, [n, packedBlocks]) && !SameDims(zeroPoints, [n * packedBlocks]))
                    {
                        problems.Add($"{label}: uint8 zero points have shape [{string.Join(",", zeroPoints.Dims)}], not [{n},{packedBlocks}].");
                    }
                }
                else if (zeroPoints.DataType != scales.DataType || !SameDims(zeroPoints, [n, blocks]))
                {
                    problems.Add($"{label}: zero points must be uint8, or the scales' type and shape.");
                }
            }

            // A, the scales and the output share one element type (T1).
            if (types.TryGetValue(node.Input[0], out var a) && a != scales.DataType)
            {
                problems.Add($"{label}: input A is {TensorData.TypeName(a)} but the scales are {TensorData.TypeName(scales.DataType)}.");
            }

            if (types.TryGetValue(node.Output[0], out var y) && y != scales.DataType)
            {
                problems.Add($"{label}: output is declared {TensorData.TypeName(y)} but the scales are {TensorData.TypeName(scales.DataType)}.");
            }
        }

        private void Expect(Dictionary<string, TensorProto> initializers, string name, int dataType, long[] dims, string label, string role)
        {
            if (!initializers.TryGetValue(name, out var tensor))
            {
                problems.Add($"{label}: {role} '{name}' is not an initializer.");
            }
            else if (tensor.DataType != dataType || !SameDims(tensor, dims))
            {
                problems.Add($"{label}: {role} is {TensorData.TypeName(tensor.DataType)}[{string.Join(",", tensor.Dims)}], expected {TensorData.TypeName(dataType)}[{string.Join(",", dims)}].");
            }
        }

        private static bool SameDims(TensorProto tensor, long[] dims) => tensor.Dims.SequenceEqual(dims);

        private static void Declare(Dictionary<string, int> types, ValueInfoProto info)
        {
            if (info.Type?.TensorType is { ElemType: > 0 } tensor)
            {
                types[info.Name] = tensor.ElemType;
            }
        }

        /// <summary>Carries element types forward through the ops that keep them, so A's type is known at MatMulNBits.</summary>
        private static void Infer(NodeProto node, Dictionary<string, int> types)
        {
            if (node.Output.Count == 0 || types.ContainsKey(node.Output[0]))
            {
                return;
            }

            if (node.OpType == "Cast" && node.Attribute.FirstOrDefault(a => a.Name == "to") is { } to)
            {
                types[node.Output[0]] = (int)to.I;
            }
            else if (node.OpType is "Shape" or "Size" or "NonZero" or "ArgMax" or "ArgMin")
            {
                types[node.Output[0]] = TensorData.Int64;
            }
            else if (node.OpType is "Equal" or "Less" or "Greater" or "LessOrEqual" or "GreaterOrEqual" or "Not" or "And" or "Or")
            {
                types[node.Output[0]] = TensorData.Bool;
            }
            else if (SameTypeOps.Contains(node.OpType) && node.Input.Count > 0)
            {
                // Gather and Where take their type from the data input, not the indices or condition.
                var source = node.OpType switch
                {
                    "Gather" => node.Input[0],
                    "Where" when node.Input.Count > 1 => node.Input[1],
                    _ => node.Input[0],
                };
                if (types.TryGetValue(source, out var type))
                {
                    types[node.Output[0]] = type;
                }
            }
        }
    }
}
