using System.Globalization;
using Onnx;

namespace Mesh.Backend.Quantizer;

/// <summary>
/// Weight-only INT8 for ONNX Runtime: every MatMul, and every Gemm with a constant B, whose weight is a constant fp32 or
/// fp16 initializer of at least <see cref="QuantizationOptions.MinDimension"/> in both dimensions becomes a
/// <c>com.microsoft</c> MatMulNBits node (bits 8, block-wise along K). Gemm's transB is folded into the layout, alpha into
/// the weights, and its bias stays a separate Add (scaled by beta), since older CUDA kernels reject MatMulNBits' bias.
/// Convolutions, shared weights' other uses and everything else are left as they are. Pairs of MatMuls whose products are
/// only added are first joined into one (<see cref="QuantizationOptions.FuseSiblingMatMuls"/>).
/// </summary>
public static class MatMulNBitsRewriter
{
    public const string MicrosoftDomain = "com.microsoft";
    public const string OpType = "MatMulNBits";

    /// <summary>Model metadata the rewriter writes, so a loaded model says what it is without being parsed.</summary>
    public const string PrecisionKey = "mesh.precision";
    public const string QuantizationKey = "mesh.quantization";
    public const string Int8Precision = "int8";

    /// <summary>Rewrites <paramref name="model"/> in place (its weights can be hundreds of MB: no copy is made).</summary>
    public static QuantizationReport Rewrite(ModelProto model, QuantizationOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var graph = model.Graph ?? throw new ArgumentException("The model has no graph.", nameof(model));
        var before = model.CalculateSize();
        var fusedPairs = options.FuseSiblingMatMuls ? SiblingMatMulFusion.Apply(model, options.MinDimension) : 0;
        var rewrite = new Rewriting(model, options);
        var nodes = new List<NodeProto>(graph.Node.Count);
        foreach (var node in graph.Node)
        {
            nodes.AddRange(rewrite.Node(node));
        }

        foreach (var node in graph.Node)
        {
            rewrite.CountSubgraphNodes(node);
        }

        if (rewrite.Weights.Count > 0)
        {
            graph.Node.Clear();
            graph.Node.AddRange(nodes);
            rewrite.RemoveUnused();
            if (!model.OpsetImport.Any(o => o.Domain == MicrosoftDomain))
            {
                model.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
            }

            SetMetadata(model, PrecisionKey, Int8Precision);
            SetMetadata(model, QuantizationKey, options.ToString());
        }

        return new QuantizationReport
        {
            Options = options,
            Weights = [.. rewrite.Weights.Values.Select(w => w.Info)],
            MatMulNodes = rewrite.MatMulNodes,
            GemmNodes = rewrite.GemmNodes,
            FusedPairs = fusedPairs,
            Skipped = rewrite.Skipped,
            ModelBytesBefore = before,
            ModelBytesAfter = model.CalculateSize(),
        };
    }

    /// <summary>The precision a model declares in its metadata: <c>int8</c> once rewritten, else <c>fp32</c>.</summary>
    public static string PrecisionOf(IReadOnlyDictionary<string, string> metadata) =>
        metadata is not null && metadata.TryGetValue(PrecisionKey, out var precision) ? precision : "fp32";

    private static void SetMetadata(ModelProto model, string key, string value)
    {
        var entry = model.MetadataProps.FirstOrDefault(p => p.Key == key);
        if (entry is null)
        {
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        }
        else
        {
            entry.Value = value;
        }
    }

    private sealed class Rewriting
    {
        private const string Unquantizable = "weight holds NaN or infinity, or is too large";

        private readonly ModelProto _model;
        private readonly GraphProto _graph;
        private readonly QuantizationOptions _options;
        private readonly Dictionary<string, TensorProto> _initializers = [];
        private readonly HashSet<string> _overridable;
        private readonly HashSet<string> _names;
        private readonly HashSet<string> _replaced = [];
        private readonly Dictionary<(string Name, float Beta), string> _scaledBiases = [];

        public Rewriting(ModelProto model, QuantizationOptions options)
        {
            _model = model;
            _graph = model.Graph;
            _options = options;
            foreach (var tensor in _graph.Initializer)
            {
                _initializers.TryAdd(tensor.Name, tensor);
            }

            // From IR 4 on, an initializer that is also a graph input is only a default: the caller may feed another value.
            // Before IR 4 every initializer had to be listed as an input, so the listing means nothing.
            _overridable = model.IrVersion >= 4 ? [.. _graph.Input.Select(i => i.Name)] : [];
            _names = OnnxNames.All(model);
        }

        public Dictionary<(string Name, bool Transposed, float Alpha), QuantizedEntry> Weights { get; } = [];

        public SortedDictionary<string, int> Skipped { get; } = new(StringComparer.Ordinal);

        public int MatMulNodes { get; private set; }

        public int GemmNodes { get; private set; }

        public IEnumerable<NodeProto> Node(NodeProto node)
        {
            if (node.Domain is not ("" or "ai.onnx"))
            {
                return [node];
            }

            return node.OpType switch
            {
                "MatMul" when node.Input.Count == 2 => MatMul(node),
                "Gemm" when node.Input.Count >= 2 => Gemm(node),
                _ => [node],
            };
        }

        /// <summary>MatMul and Gemm inside If/Loop/Scan bodies are left alone; they are counted so the report says so.</summary>
        public void CountSubgraphNodes(NodeProto node)
        {
            foreach (var subgraph in OnnxNames.Subgraphs(node))
            {
                foreach (var inner in subgraph.Node)
                {
                    if (inner.OpType is "MatMul" or "Gemm" && inner.Domain is "" or "ai.onnx")
                    {
                        Skip("inside a subgraph (If/Loop/Scan body)");
                    }

                    CountSubgraphNodes(inner);
                }
            }
        }

        /// <summary>Drops the fp32 initializers no node uses any more (another node may still use one as a plain input).</summary>
        public void RemoveUnused()
        {
            var used = OnnxNames.Referenced(_graph);
            // Only initializers no caller may feed: a graph input, with a default or without, stays part of the model's
            // interface even when nothing reads it.
            var unused = _replaced.Where(n => _initializers.ContainsKey(n) && !_overridable.Contains(n) && !used.Contains(n)).ToHashSet(StringComparer.Ordinal);
            _graph.Initializer.RemoveWhere(t => unused.Contains(t.Name));
            _graph.Input.RemoveWhere(i => unused.Contains(i.Name));
            _graph.ValueInfo.RemoveWhere(i => unused.Contains(i.Name));
        }

        private NodeProto[] MatMul(NodeProto node)
        {
            var weight = Quantized(node.Input[1], transposed: false, alpha: 1f);
            if (weight is null)
            {
                return [node];
            }

            MatMulNodes++;
            return [NBits(node.Name, node.Input[0], weight, node.Output[0], node.DocString)];
        }

        private List<NodeProto> Gemm(NodeProto node)
        {
            var alpha = FloatAttribute(node, "alpha", 1f);
            var beta = FloatAttribute(node, "beta", 1f);
            if (IntAttribute(node, "transA", 0) != 0)
            {
                Skip("Gemm with transA");
                return [node];
            }

            var weight = Quantized(node.Input[1], transposed: IntAttribute(node, "transB", 0) != 0, alpha);
            if (weight is null)
            {
                return [node];
            }

            GemmNodes++;
            var bias = node.Input.Count > 2 ? node.Input[2] : string.Empty;
            if (bias.Length == 0 || beta == 0f)
            {
                // With beta 0, C feeds nothing any more; a constant C is dropped if nothing else reads it.
                _replaced.Add(bias);
                return [NBits(node.Name, node.Input[0], weight, node.Output[0], node.DocString)];
            }

            var product = Unique(node.Output[0] + "_matmul");
            var result = new List<NodeProto> { NBits(node.Name, node.Input[0], weight, product, node.DocString) };
            if (beta != 1f)
            {
                bias = ScaledBias(node, bias, beta, weight.DataType, result);
            }

            result.Add(Node("Add", string.Empty, Unique(NameOr(node, "Gemm") + "_bias"), [product, bias], node.Output[0]));
            return result;
        }

        /// <summary>beta·C: a scaled copy when C is a constant, else a Mul in front of the Add.</summary>
        private string ScaledBias(NodeProto node, string bias, float beta, int dataType, List<NodeProto> result)
        {
            if (_initializers.TryGetValue(bias, out var constant) && !_overridable.Contains(bias) && !TensorData.IsExternal(constant)
                && constant.DataType is TensorData.Float or TensorData.Float16)
            {
                if (!_scaledBiases.TryGetValue((bias, beta), out var scaled))
                {
                    var values = TensorData.ReadFloats(constant);
                    for (var i = 0; i < values.Length; i++)
                    {
                        values[i] *= beta;
                    }

                    scaled = Unique(bias + "_beta");
                    AddInitializer(TensorData.FloatTensor(scaled, constant.DataType, values, [.. constant.Dims]));
                    _scaledBiases[(bias, beta)] = scaled;
                    _replaced.Add(bias);
                }

                return scaled;
            }

            var factor = Unique(NameOr(node, "Gemm") + "_beta");
            AddInitializer(TensorData.FloatTensor(factor, dataType, [beta]));
            var product = Unique(bias + "_beta");
            result.Add(Node("Mul", string.Empty, Unique(NameOr(node, "Gemm") + "_beta_mul"), [bias, factor], product));
            return product;
        }

        private NodeProto NBits(string name, string input, QuantizedEntry weight, string output, string docString)
        {
            var node = Node(OpType, MicrosoftDomain, name, weight.ZeroPoints is null ? [input, weight.Packed, weight.Scales] : [input, weight.Packed, weight.Scales, weight.ZeroPoints], output);
            node.DocString = docString;
            node.Attribute.Add(Int("K", weight.Info.K));
            node.Attribute.Add(Int("N", weight.Info.N));
            node.Attribute.Add(Int("bits", _options.Bits));
            node.Attribute.Add(Int("block_size", _options.BlockSize));
            if (_options.AccuracyLevel > 0)
            {
                node.Attribute.Add(Int("accuracy_level", _options.AccuracyLevel));
            }

            weight.Nodes++;
            return node;
        }

        private QuantizedEntry? Quantized(string name, bool transposed, float alpha)
        {
            if (Weights.TryGetValue((name, transposed, alpha), out var existing))
            {
                return existing;
            }

            if (!_initializers.TryGetValue(name, out var tensor))
            {
                return Skip("weight is computed, not a constant initializer");
            }

            if (_overridable.Contains(name))
            {
                return Skip("weight is also a graph input (overridable)");
            }

            if (TensorData.IsExternal(tensor))
            {
                return Skip("weight in external data");
            }

            if (tensor.DataType is not (TensorData.Float or TensorData.Float16))
            {
                return Skip($"weight is {TensorData.TypeName(tensor.DataType)}");
            }

            if (tensor.Dims.Count != 2)
            {
                return Skip("weight is not 2-D");
            }

            var (k, n) = transposed ? (tensor.Dims[1], tensor.Dims[0]) : (tensor.Dims[0], tensor.Dims[1]);
            if (k < _options.MinDimension || n < _options.MinDimension)
            {
                return Skip(string.Create(CultureInfo.InvariantCulture, $"weight below {_options.MinDimension}×{_options.MinDimension}"));
            }

            if (k > int.MaxValue || n > int.MaxValue)
            {
                return Skip("weight too large");
            }

            var values = TensorData.ReadFloats(tensor);
            if (alpha != 1f)
            {
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] *= alpha;
                }

                // An fp16 weight is dequantized in fp16: alpha folded in must not take it past fp16's range.
                if (tensor.DataType == TensorData.Float16 && Array.Exists(values, v => MathF.Abs(v) > (float)Half.MaxValue))
                {
                    return Skip(Unquantizable);
                }
            }

            QuantizedMatrix matrix;
            try
            {
                matrix = BlockQuantizer.Quantize(values, (int)k, (int)n, transposed, _options, halfScales: tensor.DataType == TensorData.Float16);
            }
            catch (ArgumentException)
            {
                return Skip(Unquantizable);
            }

            var stem = name + (transposed ? "_T" : string.Empty) + (alpha != 1f ? "_alpha" : string.Empty);
            var packed = Unique(stem + "_Q8");
            var scales = Unique(stem + "_scales");
            AddInitializer(TensorData.Tensor(packed, TensorData.UInt8, matrix.Packed, n, matrix.Blocks, matrix.BlockSize));
            AddInitializer(TensorData.FloatTensor(scales, tensor.DataType, matrix.Scales, n, matrix.Blocks));
            string? zeroPoints = null;
            if (matrix.ZeroPoints is not null)
            {
                zeroPoints = Unique(stem + "_zero_points");
                AddInitializer(TensorData.Tensor(zeroPoints, TensorData.UInt8, matrix.ZeroPoints, n, matrix.Blocks));
            }

            _replaced.Add(name);
            var entry = new QuantizedEntry(packed, scales, zeroPoints, tensor.DataType, new QuantizedWeight(
                name, (int)k, (int)n, TensorData.TypeName(tensor.DataType), TensorData.Bytes(tensor), matrix.Bytes, 0));
            Weights[(name, transposed, alpha)] = entry;
            return entry;
        }

        private void AddInitializer(TensorProto tensor)
        {
            _graph.Initializer.Add(tensor);
            _initializers[tensor.Name] = tensor;
            if (_model.IrVersion < 4)
            {
                _graph.Input.Add(OnnxNames.ValueInfoOf(tensor));
            }
        }

        private QuantizedEntry? Skip(string reason)
        {
            Skipped[reason] = Skipped.GetValueOrDefault(reason) + 1;
            return null;
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

        private static string NameOr(NodeProto node, string fallback) => node.Name.Length > 0 ? node.Name : fallback;

        private static NodeProto Node(string opType, string domain, string name, string[] inputs, string output)
        {
            var node = new NodeProto { OpType = opType, Domain = domain, Name = name };
            node.Input.AddRange(inputs);
            node.Output.Add(output);
            return node;
        }

        private static AttributeProto Int(string name, long value) =>
            new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

        private static float FloatAttribute(NodeProto node, string name, float fallback) =>
            node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.F : fallback;

        private static long IntAttribute(NodeProto node, string name, long fallback) =>
            node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.I : fallback;
    }

    private sealed class QuantizedEntry(string packed, string scales, string? zeroPoints, int dataType, QuantizedWeight info)
    {
        public string Packed { get; } = packed;

        public string Scales { get; } = scales;

        public string? ZeroPoints { get; } = zeroPoints;

        /// <summary>The weight's (and so A's and the scales') element type.</summary>
        public int DataType { get; } = dataType;

        public int Nodes { get; set; }

        public QuantizedWeight Info => info with { Nodes = Nodes };
    }
}
