using Google.Protobuf;
using Mesh.Backend.Quantizer;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace Mesh.Tests.Quantizer;

/// <summary>Small ONNX graphs built by hand, run on ONNX Runtime's CPU provider, and read back after quantization.</summary>
internal static class TinyGraphs
{
    public static float[] Random(int count, int seed, float scale = 1f)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = ((random.NextSingle() * 2) - 1) * scale;
        }

        return values;
    }

    public static ModelProto Model(GraphProto graph, int opset = 17)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "mesh-tests", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = opset });
        return model;
    }

    public static ValueInfoProto Value(string name, int elementType, params long[] dims) =>
        new()
        {
            Name = name,
            Type = new TypeProto
            {
                TensorType = new TypeProto.Types.Tensor
                {
                    ElemType = elementType,
                    Shape = Shape(dims),
                },
            },
        };

    /// <summary>A float input whose dimensions are sizes or symbols.</summary>
    public static ValueInfoProto Symbolic(string name, params object[] dims) => Typed(name, TensorData.Float, dims);

    /// <summary>A tensor of <paramref name="elementType"/> whose dimensions are sizes or symbols.</summary>
    public static ValueInfoProto Typed(string name, int elementType, params object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var dim in dims)
        {
            shape.Dim.Add(dim is string symbol
                ? new TensorShapeProto.Types.Dimension { DimParam = symbol }
                : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(dim, System.Globalization.CultureInfo.InvariantCulture) });
        }

        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elementType, Shape = shape } } };
    }

    public static TensorProto Int64s(string name, long[] dims, params long[] values) =>
        TensorData.Tensor(name, TensorData.Int64, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), dims);

    public static NodeProto Node(string opType, string name, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = name };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        return node;
    }

    public static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>Y = A · W with A float [m,k] and W a [k,n] initializer.</summary>
    public static ModelProto MatMul(int m, int k, int n, float[] weights, int elementType = TensorData.Float)
    {
        var graph = new GraphProto { Name = "matmul" };
        graph.Input.Add(Value("A", elementType, m, k));
        graph.Initializer.Add(TensorData.FloatTensor("W", elementType, weights, k, n));
        graph.Node.Add(Node("MatMul", "mm", ["A", "W"], "Y"));
        graph.Output.Add(Value("Y", elementType, m, n));
        return Model(graph);
    }

    /// <summary>Runs <paramref name="model"/> with one float input and returns its one output.</summary>
    public static float[] Run(ModelProto model, float[] input, params long[] shape)
    {
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(model.ToByteArray(), options);
        using var runOptions = new RunOptions();
        var inputName = session.InputMetadata.Keys.Single();
        var outputName = session.OutputMetadata.Keys.First();
        if (session.InputMetadata[inputName].ElementDataType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float16)
        {
            var halves = input.Select(v => new Float16(BitConverter.HalfToUInt16Bits((Half)v))).ToArray();
            using var halfValue = OrtValue.CreateTensorValueFromMemory(halves, shape);
            using var halfResults = session.Run(runOptions, [inputName], [halfValue], [outputName]);
            return [.. halfResults[0].GetTensorDataAsSpan<Float16>().ToArray().Select(h => (float)BitConverter.UInt16BitsToHalf(h.value))];
        }

        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var results = session.Run(runOptions, [inputName], [value], [outputName]);
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>
    /// The [K,N] weight a MatMulNBits node computes with, read straight from its initializers and attributes:
    /// w[k,n] = (B[n, k / block, k % block] − zero point) · scale, independently of the quantizer's own code.
    /// </summary>
    public static float[] Dequantized(ModelProto model, NodeProto node)
    {
        long Attribute(string name) => node.Attribute.Single(a => a.Name == name).I;
        var initializers = model.Graph.Initializer.ToDictionary(i => i.Name);
        var k = (int)Attribute("K");
        var n = (int)Attribute("N");
        var blockSize = (int)Attribute("block_size");
        var blocks = (k + blockSize - 1) / blockSize;
        var packed = initializers[node.Input[1]].RawData.ToByteArray();
        var scales = TensorData.ReadFloats(initializers[node.Input[2]]);
        var zeroPoints = node.Input.Count > 3 ? initializers[node.Input[3]].RawData.ToByteArray() : null;
        var weights = new float[k * n];
        for (var row = 0; row < k; row++)
        {
            for (var column = 0; column < n; column++)
            {
                var block = (column * blocks) + (row / blockSize);
                var q = packed[(block * blockSize) + (row % blockSize)];
                weights[(row * n) + column] = (q - (zeroPoints?[block] ?? 128)) * scales[block];
            }
        }

        return weights;
    }

    /// <summary>A [m,k] · B [k,n] in double precision.</summary>
    public static double[] Multiply(float[] a, float[] b, int m, int k, int n)
    {
        var y = new double[m * n];
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < n; j++)
            {
                double sum = 0;
                for (var t = 0; t < k; t++)
                {
                    sum += (double)a[(i * k) + t] * b[(t * n) + j];
                }

                y[(i * n) + j] = sum;
            }
        }

        return y;
    }

    /// <summary>‖actual − expected‖ / ‖expected‖.</summary>
    public static double RelativeError(IReadOnlyList<float> actual, IReadOnlyList<double> expected)
    {
        Assert.Equal(expected.Count, actual.Count);
        double error = 0, norm = 0;
        for (var i = 0; i < expected.Count; i++)
        {
            error += (actual[i] - expected[i]) * (actual[i] - expected[i]);
            norm += expected[i] * expected[i];
        }

        return Math.Sqrt(error / norm);
    }

    public static ByteString Bytes(float[] values) => ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));

    private static TensorShapeProto Shape(long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var dim in dims)
        {
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = dim });
        }

        return shape;
    }
}
