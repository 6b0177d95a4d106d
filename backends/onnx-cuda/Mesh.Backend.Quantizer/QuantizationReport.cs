namespace Mesh.Backend.Quantizer;

/// <summary>One weight that became MatMulNBits inputs; <paramref name="Nodes"/> counts the nodes that share it.</summary>
public sealed record QuantizedWeight(string Name, int K, int N, string SourceType, long SourceBytes, long QuantizedBytes, int Nodes);

/// <summary>What <see cref="MatMulNBitsRewriter.Rewrite"/> did to one model.</summary>
public sealed class QuantizationReport
{
    public required QuantizationOptions Options { get; init; }

    /// <summary>Each quantized weight once, however many nodes share it.</summary>
    public required IReadOnlyList<QuantizedWeight> Weights { get; init; }

    public int MatMulNodes { get; init; }

    public int GemmNodes { get; init; }

    /// <summary>MatMul pairs joined into one before quantization (<see cref="SiblingMatMulFusion"/>).</summary>
    public int FusedPairs { get; init; }

    /// <summary>MatMul and Gemm nodes left as they were, by reason.</summary>
    public required IReadOnlyDictionary<string, int> Skipped { get; init; }

    /// <summary>The serialized model's size before and after.</summary>
    public long ModelBytesBefore { get; init; }

    public long ModelBytesAfter { get; init; }

    /// <summary>The quantized weights' bytes in their source type (fp32 or fp16).</summary>
    public long SourceWeightBytes => Weights.Sum(w => w.SourceBytes);

    /// <summary>The packed weights, scales and zero points that replace them.</summary>
    public long QuantizedWeightBytes => Weights.Sum(w => w.QuantizedBytes);

    public bool Changed => Weights.Count > 0;
}
