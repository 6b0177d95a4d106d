using Google.Protobuf;
using Mesh.Backend.Quantizer;
using Onnx;
using static Mesh.Tests.Quantizer.TinyGraphs;

namespace Mesh.Tests.Quantizer;

public sealed class QuantizerTests
{
    private static readonly QuantizationOptions Exact = new() { AccuracyLevel = 0 };

    public static TheoryData<bool, bool> Schemes => new() { { true, false }, { false, false }, { true, true }, { false, true } };

    [Theory]
    [MemberData(nameof(Schemes))]
    public void Every_weight_is_within_half_a_scale_of_its_block_after_the_round_trip(bool symmetric, bool halfScales)
    {
        var options = new QuantizationOptions { Symmetric = symmetric };
        var random = new Random(7);
        var checkedBlocks = 0;
        foreach (var block in Blocks(random, options.BlockSize, halfScales ? 6e4f : float.MaxValue))
        {
            var q = new byte[block.Length];
            var (scale, zeroPoint) = BlockQuantizer.QuantizeBlock(block, symmetric, halfScales, q);
            Assert.True(scale >= 0);
            if (halfScales)
            {
                Assert.Equal(scale, (float)(Half)scale); // stored exactly as fp16
            }

            if (symmetric)
            {
                Assert.Equal(BlockQuantizer.SymmetricZeroPoint, zeroPoint);
            }

            for (var i = 0; i < block.Length; i++)
            {
                var restored = (q[i] - zeroPoint) * scale;
                var bound = (scale / 2) * (1 + 1e-5) + 1e-30;
                Assert.True(Math.Abs(block[i] - restored) <= bound, $"block {checkedBlocks} value {block[i]} -> {q[i]} -> {restored}: error {Math.Abs(block[i] - restored)} > {bound} (scale {scale})");
                if (symmetric && scale > 0)
                {
                    Assert.InRange(q[i], 1, 255); // symmetric never needs code 0, so nothing clamps
                }
            }

            if (block.All(v => v == 0))
            {
                Assert.Equal(0f, scale);
            }

            checkedBlocks++;
        }

        Assert.True(checkedBlocks > 1000);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_matrix_keeps_its_layout_and_pads_k_with_exact_zeros(bool columnsFirst)
    {
        const int K = 70, N = 65; // K pads to 3 blocks of 32
        var weights = Random(K * N, 3);
        var source = columnsFirst ? Transpose(weights, K, N) : weights;
        var matrix = BlockQuantizer.Quantize(source, K, N, columnsFirst, QuantizationOptions.Default);
        Assert.Equal(3, matrix.Blocks);
        Assert.Equal(N * 3 * 32, matrix.Packed.Length);
        Assert.Equal(N * 3, matrix.Scales.Length);
        Assert.Null(matrix.ZeroPoints);
        Assert.Equal(matrix.Packed.Length + (matrix.Scales.Length * 4), matrix.Bytes);
        for (var n = 0; n < N; n++)
        {
            for (var k = 0; k < K; k++)
            {
                Assert.True(Math.Abs(weights[(k * N) + n] - matrix.Dequantize(k, n)) <= matrix.Scale(n, k / 32) / 2 * (1 + 1e-5));
            }

            for (var pad = K; pad < 96; pad++)
            {
                Assert.Equal(BlockQuantizer.SymmetricZeroPoint, matrix.Packed[(((n * 3) + 2) * 32) + (pad % 32)]);
            }
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Quantized_matmul_on_the_cpu_provider_matches_the_dequantized_weights(bool symmetric)
    {
        const int M = 5, K = 80, N = 72;
        var weights = Random(K * N, 11, 0.2f);
        var model = MatMul(M, K, N, weights);
        var report = MatMulNBitsRewriter.Rewrite(model, Exact with { Symmetric = symmetric });

        var node = Assert.Single(model.Graph.Node);
        Assert.Equal(("MatMulNBits", "com.microsoft"), (node.OpType, node.Domain));
        Assert.Equal(symmetric ? 3 : 4, node.Input.Count);
        Assert.Empty(OnnxModelChecker.Check(model));
        Assert.Equal(K * N * 4, Assert.Single(report.Weights).SourceBytes);

        var a = Random(M * K, 12);
        var output = Run(model, a, M, K);
        var reference = Multiply(a, Dequantized(model, node), M, K, N);
        Assert.True(RelativeError(output, reference) <= 1e-5, $"relative error {RelativeError(output, reference)}");
        // And the quantization itself is small against the fp32 product.
        Assert.True(RelativeError(output, Multiply(a, weights, M, K, N)) <= 1e-2);
    }

    [Fact]
    public void Int8_arithmetic_on_the_cpu_provider_stays_close_to_the_dequantized_weights()
    {
        const int M = 1, K = 256, N = 128;
        var model = MatMul(M, K, N, Random(K * N, 21, 0.1f));
        MatMulNBitsRewriter.Rewrite(model, QuantizationOptions.Default);
        var node = Assert.Single(model.Graph.Node);
        Assert.Equal(4, node.Attribute.Single(a => a.Name == "accuracy_level").I);

        var a = Random(M * K, 22);
        var error = RelativeError(Run(model, a, M, K), Multiply(a, Dequantized(model, node), M, K, N));
        Assert.True(error <= 2e-2, $"relative error {error}");
    }

    [Fact]
    public void Gemm_folds_transB_and_alpha_and_keeps_the_bias_as_a_separate_add()
    {
        const int M = 4, K = 96, N = 64;
        var weights = Random(N * K, 31, 0.3f); // [N,K]: transB
        var bias = Random(N, 32);
        var graph = new GraphProto { Name = "gemm" };
        graph.Input.Add(Value("A", TensorData.Float, M, K));
        graph.Initializer.Add(TensorData.FloatTensor("W", TensorData.Float, weights, N, K));
        graph.Initializer.Add(TensorData.FloatTensor("C", TensorData.Float, bias, N));
        graph.Node.Add(Node("Gemm", "dense", ["A", "W", "C"], "Y", Float("alpha", 0.5f), Float("beta", 2f), Int("transB", 1)));
        graph.Output.Add(Value("Y", TensorData.Float, M, N));
        var model = Model(graph);
        var a = Random(M * K, 33);
        var original = Run(model, a, M, K);

        var report = MatMulNBitsRewriter.Rewrite(model, Exact);
        Assert.Equal(1, report.GemmNodes);
        Assert.Equal(["MatMulNBits", "Add"], model.Graph.Node.Select(n => n.OpType));
        Assert.Empty(OnnxModelChecker.Check(model));
        Assert.DoesNotContain(model.Graph.Initializer, i => i.Name is "W" or "C"); // replaced, not left dangling

        var output = Run(model, a, M, K);
        var product = Multiply(a, Dequantized(model, model.Graph.Node[0]), M, K, N);
        var reference = product.Select((v, i) => v + (2.0 * bias[i % N])).ToArray();
        Assert.True(RelativeError(output, reference) <= 1e-5, $"relative error {RelativeError(output, reference)}");
        Assert.True(RelativeError(output, [.. original.Select(v => (double)v)]) <= 1e-2);
    }

    [Fact]
    public void Shared_weights_are_quantized_once_and_everything_else_is_left_alone()
    {
        const int M = 2, K = 64, N = 64;
        var graph = new GraphProto { Name = "mixed" };
        graph.Input.Add(Value("A", TensorData.Float, M, K));
        graph.Initializer.Add(TensorData.FloatTensor("W", TensorData.Float, Random(K * N, 41, 0.1f), K, N));
        graph.Initializer.Add(TensorData.FloatTensor("Small", TensorData.Float, Random(N * 32, 42, 0.1f), N, 32));
        graph.Node.Add(Node("MatMul", "first", ["A", "W"], "h1"));
        graph.Node.Add(Node("Tanh", "t", ["h1"], "h2"));
        graph.Node.Add(Node("MatMul", "second", ["h2", "W"], "h3")); // the same weight again
        graph.Node.Add(Node("MatMul", "small", ["h3", "Small"], "h4")); // 64×32: below the threshold
        graph.Node.Add(Node("Transpose", "tr", ["h4"], "h4t"));
        graph.Node.Add(Node("MatMul", "dynamic", ["h4", "h4t"], "Y")); // B is computed, not a constant
        graph.Output.Add(Value("Y", TensorData.Float, M, M));
        var model = Model(graph);
        Assert.Empty(OnnxModelChecker.Check(model));
        var a = Random(M * K, 43);
        var original = Run(model, a, M, K);

        var report = MatMulNBitsRewriter.Rewrite(model, Exact);
        var weight = Assert.Single(report.Weights);
        Assert.Equal(("W", 2), (weight.Name, weight.Nodes));
        Assert.Equal(2, report.MatMulNodes);
        Assert.Equal(1, report.Skipped["weight below 64×64"]);
        Assert.Equal(1, report.Skipped["weight is computed, not a constant initializer"]);
        Assert.Equal(["MatMulNBits", "Tanh", "MatMulNBits", "MatMul", "Transpose", "MatMul"], model.Graph.Node.Select(n => n.OpType));
        Assert.Equal(model.Graph.Node[0].Input[1], model.Graph.Node[2].Input[1]);
        Assert.Equal(["Small", "W_Q8", "W_scales"], model.Graph.Initializer.Select(i => i.Name).Order());
        Assert.Contains(model.OpsetImport, o => o.Domain == "com.microsoft" && o.Version == 1);
        Assert.Contains(model.MetadataProps, p => p.Key == MatMulNBitsRewriter.PrecisionKey && p.Value == "int8");
        Assert.Empty(OnnxModelChecker.Check(model));
        Assert.True(RelativeError(Run(model, a, M, K), [.. original.Select(v => (double)v)]) <= 2e-2);
    }

    [Fact]
    public void A_weight_that_another_op_also_reads_stays_for_that_op()
    {
        const int K = 64, N = 64;
        var graph = new GraphProto { Name = "reuse" };
        graph.Input.Add(Value("A", TensorData.Float, K, K));
        graph.Initializer.Add(TensorData.FloatTensor("W", TensorData.Float, Random(K * N, 51, 0.1f), K, N));
        graph.Node.Add(Node("MatMul", "mm", ["A", "W"], "h"));
        graph.Node.Add(Node("Add", "add", ["h", "W"], "Y"));
        graph.Output.Add(Value("Y", TensorData.Float, K, N));
        var model = Model(graph);

        MatMulNBitsRewriter.Rewrite(model, Exact);
        Assert.Equal(["MatMulNBits", "Add"], model.Graph.Node.Select(n => n.OpType));
        Assert.Contains(model.Graph.Initializer, i => i.Name == "W");
        Assert.Empty(OnnxModelChecker.Check(model));
        Run(model, Random(K * K, 52), K, K);
    }

    [Fact]
    public void Old_ir_models_list_the_new_initializers_as_inputs_and_a_gemm_without_bias_needs_no_add()
    {
        const int M = 2, K = 64, N = 64;
        var graph = new GraphProto { Name = "ir3" };
        graph.Input.Add(Value("A", TensorData.Float, M, K));
        graph.Input.Add(Value("W", TensorData.Float, K, N)); // before IR 4 every initializer is also an input
        graph.Initializer.Add(TensorData.FloatTensor("W", TensorData.Float, Random(K * N, 81, 0.1f), K, N));
        graph.Input.Add(Value("C", TensorData.Float, N));
        graph.Initializer.Add(TensorData.FloatTensor("C", TensorData.Float, Random(N, 82), N));
        graph.Node.Add(Node("Gemm", "g", ["A", "W", "C"], "Y", Float("beta", 0f)));
        graph.Output.Add(Value("Y", TensorData.Float, M, N));
        var model = Model(graph, opset: 9);
        model.IrVersion = 3;

        MatMulNBitsRewriter.Rewrite(model, Exact);
        Assert.Equal(["MatMulNBits"], model.Graph.Node.Select(n => n.OpType));
        Assert.Equal(["A", "W_Q8", "W_scales"], model.Graph.Input.Select(i => i.Name));
        Assert.Equal(["W_Q8", "W_scales"], model.Graph.Initializer.Select(i => i.Name));
        Assert.Empty(OnnxModelChecker.Check(model));
        var a = Random(M * K, 83);
        var output = Run(model, a, M, K);
        Assert.True(RelativeError(output, Multiply(a, Dequantized(model, model.Graph.Node[0]), M, K, N)) <= 1e-5);
    }

    [Fact]
    public void A_gemm_bias_the_caller_may_feed_stays_an_input_when_beta_is_zero()
    {
        const int M = 2, K = 64, N = 64;
        var graph = new GraphProto { Name = "overridable-bias" };
        graph.Input.Add(Value("A", TensorData.Float, M, K));
        graph.Input.Add(Value("C", TensorData.Float, N)); // IR 4+: an initializer listed as an input is only a default
        graph.Initializer.Add(TensorData.FloatTensor("W", TensorData.Float, Random(K * N, 101, 0.1f), K, N));
        graph.Initializer.Add(TensorData.FloatTensor("C", TensorData.Float, Random(N, 102), N));
        graph.Node.Add(Node("Gemm", "g", ["A", "W", "C"], "Y", Float("beta", 0f)));
        graph.Output.Add(Value("Y", TensorData.Float, M, N));
        var model = Model(graph);

        MatMulNBitsRewriter.Rewrite(model, Exact);
        Assert.Equal(["MatMulNBits"], model.Graph.Node.Select(n => n.OpType));
        Assert.Equal(["A", "C"], model.Graph.Input.Select(i => i.Name)); // the model's interface is unchanged
        Assert.Empty(OnnxModelChecker.Check(model));
    }

    [Fact]
    public void Fp16_weights_get_fp16_scales_and_run()
    {
        const int M = 3, K = 64, N = 96;
        var weights = Random(K * N, 61, 0.2f);
        var model = MatMul(M, K, N, weights, TensorData.Float16);
        var report = MatMulNBitsRewriter.Rewrite(model, Exact);
        Assert.Equal(K * N * 2, Assert.Single(report.Weights).SourceBytes);
        var scales = model.Graph.Initializer.Single(i => i.Name.EndsWith("_scales", StringComparison.Ordinal));
        Assert.Equal(TensorData.Float16, scales.DataType);
        Assert.Empty(OnnxModelChecker.Check(model));

        var a = Random(M * K, 62);
        var reference = Multiply(a, Dequantized(model, model.Graph.Node[0]), M, K, N);
        var error = RelativeError(Run(model, a, M, K), reference);
        Assert.True(error <= 3e-3, $"relative error {error}"); // fp16 activations and output
    }

    [Fact]
    public void The_checker_finds_what_a_broken_rewrite_would_leave()
    {
        ModelProto Quantized()
        {
            var model = MatMul(2, 64, 64, Random(64 * 64, 71));
            MatMulNBitsRewriter.Rewrite(model, Exact);
            return model;
        }

        var noDomain = Quantized();
        noDomain.OpsetImport.Remove(noDomain.OpsetImport.Single(o => o.Domain == "com.microsoft"));
        Assert.Contains(OnnxModelChecker.Check(noDomain), p => p.Contains("not in opset_import", StringComparison.Ordinal));

        var wrongScales = Quantized();
        var scales = wrongScales.Graph.Initializer.Single(i => i.Name.EndsWith("_scales", StringComparison.Ordinal));
        scales.Dims[1] = 3;
        Assert.Contains(OnnxModelChecker.Check(wrongScales), p => p.Contains("scales have shape", StringComparison.Ordinal));

        var wrongType = Quantized();
        var typed = wrongType.Graph.Initializer.Single(i => i.Name.EndsWith("_scales", StringComparison.Ordinal));
        var halfScales = TensorData.FloatTensor(typed.Name, TensorData.Float16, TensorData.ReadFloats(typed), [.. typed.Dims]);
        wrongType.Graph.Initializer.Remove(typed);
        wrongType.Graph.Initializer.Add(halfScales);
        Assert.Contains(OnnxModelChecker.Check(wrongType), p => p.Contains("input A is float32 but the scales are float16", StringComparison.Ordinal));

        var dangling = Quantized();
        dangling.Graph.Initializer.Add(TensorData.FloatTensor("unused", TensorData.Float, [1f], 1));
        dangling.Graph.Node[0].Input[0] = "nowhere";
        var problems = OnnxModelChecker.Check(dangling);
        Assert.Contains(problems, p => p.Contains("initializer 'unused' is not used", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("input 'nowhere' is not produced", StringComparison.Ordinal));

        var badData = Quantized();
        badData.Graph.Initializer[0].RawData = ByteString.CopyFrom(new byte[3]);
        Assert.Contains(OnnxModelChecker.Check(badData), p => p.Contains("bytes for", StringComparison.Ordinal));
    }

    [Fact]
    public void Options_outside_what_MatMulNBits_accepts_are_refused()
    {
        Assert.Throws<ArgumentException>(() => new QuantizationOptions { Bits = 4 }.Validate());
        Assert.Throws<ArgumentException>(() => new QuantizationOptions { BlockSize = 48 }.Validate());
        Assert.Throws<ArgumentException>(() => new QuantizationOptions { BlockSize = 8 }.Validate());
        Assert.Throws<ArgumentException>(() => new QuantizationOptions { AccuracyLevel = 5 }.Validate());
        Assert.Throws<ArgumentException>(() => BlockQuantizer.Quantize([float.NaN, 0, 0, 0], 2, 2, false, QuantizationOptions.Default));
    }

    [Fact]
    public void An_asymmetric_block_whose_range_overflows_float_is_refused_and_its_weight_stays_fp32()
    {
        // Each value is finite, but max − min is not: the scale would be infinite and every weight would come back NaN.
        Assert.Throws<ArgumentException>(() => BlockQuantizer.QuantizeBlock([-3e38f, 3e38f, 1f, 0f], symmetric: false, halfScales: false, new byte[4]));

        const int M = 2, K = 64, N = 64;
        var weights = Random(K * N, 91, 0.1f);
        weights[0] = -3e38f;
        weights[N] = 3e38f; // the same column and block
        var model = MatMul(M, K, N, weights);
        var report = MatMulNBitsRewriter.Rewrite(model, Exact with { Symmetric = false });
        Assert.Empty(report.Weights);
        Assert.Equal(1, report.Skipped["weight holds NaN or infinity, or is too large"]);
        Assert.Equal(["MatMul"], model.Graph.Node.Select(n => n.OpType));

        // A block that needs a scale fp16 cannot store is refused as documented, not as an AggregateException of the workers.
        Assert.Throws<ArgumentException>(() => BlockQuantizer.Quantize(Random(K * N, 93, 1e7f), K, N, false, QuantizationOptions.Default, halfScales: true));

        // fp16 weights that Gemm's alpha scales past fp16's range would dequantize to infinity in fp16: skipped the same way.
        var graph = new GraphProto { Name = "gemm16" };
        graph.Input.Add(Value("A", TensorData.Float16, M, K));
        graph.Initializer.Add(TensorData.FloatTensor("W", TensorData.Float16, Random(K * N, 92, 0.5f), K, N));
        graph.Node.Add(Node("Gemm", "g", ["A", "W"], "Y", Float("alpha", 1e6f)));
        graph.Output.Add(Value("Y", TensorData.Float16, M, N));
        var gemm = Model(graph);
        Assert.Equal(1, MatMulNBitsRewriter.Rewrite(gemm, Exact).Skipped["weight holds NaN or infinity, or is too large"]);
        Assert.Equal(["Gemm"], gemm.Graph.Node.Select(n => n.OpType));
    }

    /// <summary>Blocks of many shapes: uniform, cubed (mostly small), one-signed, one outlier, constant, zero, huge.</summary>
    private static IEnumerable<float[]> Blocks(Random random, int size, float limit)
    {
        for (var i = 0; i < 1200; i++)
        {
            var block = new float[size];
            var kind = i % 8;
            var magnitude = MathF.Pow(10, (random.NextSingle() * 8) - 5);
            for (var j = 0; j < size; j++)
            {
                var u = (random.NextSingle() * 2) - 1;
                block[j] = kind switch
                {
                    0 => u * magnitude,
                    1 => (u * u * u) * magnitude,
                    2 => MathF.Abs(u) * magnitude,
                    3 => -MathF.Abs(u) * magnitude,
                    4 => j == 3 ? 50 * magnitude : u * magnitude * 0.01f,
                    5 => magnitude,
                    6 => 0,
                    _ => u * 1e30f,
                };
                block[j] = Math.Clamp(block[j], -limit, limit); // fp16 weights never exceed fp16's range
            }

            yield return block;
        }
    }

    private static float[] Transpose(float[] weights, int rows, int cols)
    {
        var transposed = new float[weights.Length];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < cols; c++)
            {
                transposed[(c * rows) + r] = weights[(r * cols) + c];
            }
        }

        return transposed;
    }
}
