using System.Globalization;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace Mesh.ModelGeneration;

/// <summary>Builds an ONNX graph node by node with generated names; weights are raw float32 initializers.</summary>
internal sealed class OnnxGraphBuilder(string name)
{
    public const int Float = 1;
    public const int Int32 = 6;
    public const int Int64 = 7;
    public const int Bool = 9;

    private readonly GraphProto _graph = new() { Name = name };
    private int _next;

    /// <summary>Float parameters in the initializers (constants of other types are not counted).</summary>
    public long Parameters { get; private set; }

    /// <summary>Declares a graph input; a dimension is a size (long) or a symbolic name (string).</summary>
    public string Input(string inputName, int elementType, params object[] dims)
    {
        _graph.Input.Add(ValueInfo(inputName, elementType, dims));
        return inputName;
    }

    public void Output(string outputName, int elementType, params object[] dims) =>
        _graph.Output.Add(ValueInfo(outputName, elementType, dims));

    public string Weight(string weightName, byte[] float32Bytes, params long[] dims)
    {
        var tensor = new TensorProto { Name = weightName, DataType = Float, RawData = UnsafeByteOperations.UnsafeWrap(float32Bytes) };
        tensor.Dims.AddRange(dims);
        _graph.Initializer.Add(tensor);
        Parameters += float32Bytes.Length / sizeof(float);
        return weightName;
    }

    public string Weight(string weightName, DeterministicRandom random, float scale, params long[] dims) =>
        Weight(weightName, random.FloatBytes(dims.Aggregate(1L, (a, b) => a * b), scale), dims);

    /// <summary>A float scalar constant.</summary>
    public string Scalar(float value) => Constant(Float, [], MemoryMarshal.AsBytes<float>([value]).ToArray());

    /// <summary>An int64 scalar constant.</summary>
    public string ScalarInt(long value) => Constant(Int64, [], MemoryMarshal.AsBytes<long>([value]).ToArray());

    /// <summary>A 1-D int64 constant (axes, shapes, slice bounds).</summary>
    public string Ints(params long[] values) => Constant(Int64, [values.Length], MemoryMarshal.AsBytes<long>(values).ToArray());

    public string Op(string opType, string[] inputs, params (string Name, object Value)[] attributes) =>
        OpTo(opType, inputs, NewName(opType), attributes);

    /// <summary>A node whose single output gets <paramref name="output"/> (a graph output's name).</summary>
    public string OpTo(string opType, string[] inputs, string output, params (string Name, object Value)[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = NewName(opType + "_node") };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        foreach (var (attributeName, value) in attributes)
        {
            node.Attribute.Add(Attribute(attributeName, value));
        }

        _graph.Node.Add(node);
        return output;
    }

    public ModelProto Build(int opset, string docString)
    {
        var model = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "mesh-models",
            ProducerVersion = "1",
            DocString = docString,
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = opset });
        return model;
    }

    private string Constant(int elementType, long[] dims, byte[] raw)
    {
        var constantName = NewName("const");
        var tensor = new TensorProto { Name = constantName, DataType = elementType, RawData = ByteString.CopyFrom(raw) };
        tensor.Dims.AddRange(dims);
        _graph.Initializer.Add(tensor);
        return constantName;
    }

    private string NewName(string prefix) => prefix + "_" + (_next++).ToString(CultureInfo.InvariantCulture);

    private static ValueInfoProto ValueInfo(string valueName, int elementType, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var dim in dims)
        {
            shape.Dim.Add(dim switch
            {
                string symbol => new TensorShapeProto.Types.Dimension { DimParam = symbol },
                long size => new TensorShapeProto.Types.Dimension { DimValue = size },
                int size => new TensorShapeProto.Types.Dimension { DimValue = size },
                _ => throw new ArgumentException($"Dimension {dim} is neither a size nor a name."),
            });
        }

        return new ValueInfoProto
        {
            Name = valueName,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elementType, Shape = shape } },
        };
    }

    private static AttributeProto Attribute(string attributeName, object value)
    {
        var attribute = new AttributeProto { Name = attributeName };
        switch (value)
        {
            case long i:
                attribute.Type = AttributeProto.Types.AttributeType.Int;
                attribute.I = i;
                break;
            case int i:
                attribute.Type = AttributeProto.Types.AttributeType.Int;
                attribute.I = i;
                break;
            case float f:
                attribute.Type = AttributeProto.Types.AttributeType.Float;
                attribute.F = f;
                break;
            case long[] ints:
                attribute.Type = AttributeProto.Types.AttributeType.Ints;
                attribute.Ints.AddRange(ints);
                break;
            case string s:
                attribute.Type = AttributeProto.Types.AttributeType.String;
                attribute.S = ByteString.CopyFromUtf8(s);
                break;
            default:
                throw new ArgumentException($"Attribute {attributeName} has an unsupported value type {value.GetType()}.");
        }

        return attribute;
    }
}
