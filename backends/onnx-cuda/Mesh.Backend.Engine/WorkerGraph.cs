using System.Diagnostics;
using System.Runtime.InteropServices;
using Mesh.Backend.Quantizer;
using Microsoft.ML.OnnxRuntime;

namespace Mesh.Backend.Engine;

/// <summary>
/// One graph as one worker runs it: its own IO binding, its own input buffers, outputs bound to host memory.
/// Inputs are converted to the element type the model declares, so callers pass longs or floats whatever the export chose.
/// Not thread-safe: only its worker's thread uses it.
/// </summary>
public sealed class WorkerGraph : IDisposable
{
    private readonly InferenceSession _session;
    private readonly OrtIoBinding _binding;
    private readonly RunOptions _runOptions = new();
    private readonly HostBufferSource _buffers;
    private readonly Dictionary<string, InputSlot> _inputs;
    private readonly IEngineObserver? _observer;
    private readonly string _model;
    private readonly int _worker;
    private long _bindTicks;

    internal WorkerGraph(
        string model, string name, int worker, InferenceSession session, ModelSignature signature, HostBufferSource buffers, IEngineObserver? observer)
    {
        _model = model;
        Name = name;
        _worker = worker;
        _session = session;
        Signature = signature;
        _buffers = buffers;
        _observer = observer;
        _binding = session.CreateIoBinding();
        _inputs = signature.Inputs.ToDictionary(i => i.Name, i => new InputSlot(i));
        Precision = PrecisionOf(session);
    }

    /// <summary>The graph's stage name within its package.</summary>
    public string Name { get; }

    public ModelSignature Signature { get; }

    /// <summary>The graph's weight precision, from the model metadata the INT8 rewriter writes.</summary>
    public string Precision { get; }

    public void SetInput(string name, ReadOnlySpan<long> values, ReadOnlySpan<long> shape)
    {
        var start = Stopwatch.GetTimestamp();
        var slot = Prepare(name, values.Length, shape);
        TensorWriter.Write(slot.Spec.Element, values, slot.Buffer!.Pointer);
        Bind(slot, shape);
        _bindTicks += Stopwatch.GetTimestamp() - start;
    }

    public void SetInput(string name, ReadOnlySpan<float> values, ReadOnlySpan<long> shape)
    {
        var start = Stopwatch.GetTimestamp();
        var slot = Prepare(name, values.Length, shape);
        TensorWriter.Write(slot.Spec.Element, values, slot.Buffer!.Pointer);
        Bind(slot, shape);
        _bindTicks += Stopwatch.GetTimestamp() - start;
    }

    /// <summary>Runs the graph on the inputs set since the last run and copies every output out.</summary>
    public EngineOutputs Run()
    {
        var missing = _inputs.Values.Where(s => !s.IsSet).Select(s => s.Spec.Name).ToArray();
        if (missing.Length > 0)
        {
            throw new InvalidOperationException($"Graph '{Name}' needs inputs {string.Join(", ", missing)} before it runs.");
        }

        // Output shapes depend on the data (durations), so ONNX Runtime allocates them afresh on the bound device each
        // run; a binding left from the last run would hold that run's shapes.
        var bindStart = Stopwatch.GetTimestamp();
        _binding.ClearBoundOutputs();
        foreach (var output in Signature.Outputs)
        {
            _binding.BindOutputToDevice(output.Name, _buffers.OutputMemory);
        }

        var bind = Stopwatch.GetElapsedTime(0, _bindTicks + (Stopwatch.GetTimestamp() - bindStart));
        _bindTicks = 0;
        var runStart = Stopwatch.GetTimestamp();
        using var results = _session.RunWithBoundResults(_runOptions, _binding);
        var run = Stopwatch.GetElapsedTime(runStart);

        var fetchStart = Stopwatch.GetTimestamp();
        var tensors = new EngineTensor[results.Count];
        for (var i = 0; i < tensors.Length; i++)
        {
            tensors[i] = EngineTensor.CopyFrom(Signature.Outputs[i].Name, results[i]);
        }

        foreach (var slot in _inputs.Values)
        {
            slot.IsSet = false;
        }

        var fetch = Stopwatch.GetElapsedTime(fetchStart);
        _observer?.RunCompleted(new EngineRunTiming(_model, Name, EngineRunTiming.Eager, _worker, bind, run, fetch) { Precision = Precision });
        return new EngineOutputs(tensors);
    }

    public void Dispose()
    {
        foreach (var slot in _inputs.Values)
        {
            slot.Value?.Dispose();
            slot.Buffer?.Dispose();
        }

        _binding.Dispose();
        _runOptions.Dispose();
    }

    internal static string PrecisionOf(InferenceSession session)
    {
        return MatMulNBitsRewriter.PrecisionOf(session.ModelMetadata.CustomMetadataMap) == MatMulNBitsRewriter.Int8Precision ? Precisions.Int8 : Precisions.Fp32;
    }

    private InputSlot Prepare(string name, int count, ReadOnlySpan<long> shape)
    {
        if (!_inputs.TryGetValue(name, out var slot))
        {
            throw new ArgumentException($"Graph '{Name}' has no input '{name}' ({Signature}).", nameof(name));
        }

        var spec = slot.Spec;
        if (shape.Length != spec.Rank)
        {
            throw new ArgumentException($"Input '{name}' has rank {spec.Rank}; got a shape of rank {shape.Length}.", nameof(shape));
        }

        long elements = 1;
        for (var i = 0; i < shape.Length; i++)
        {
            if (spec.Shape[i] >= 0 && spec.Shape[i] != shape[i])
            {
                throw new ArgumentException($"Input '{name}' has dimension {i} fixed at {spec.Shape[i]}; got {shape[i]}.", nameof(shape));
            }

            elements *= shape[i];
        }

        if (elements != count)
        {
            throw new ArgumentException($"Input '{name}': {count} values do not fill shape [{string.Join(",", shape.ToArray())}].", nameof(shape));
        }

        var bytes = Math.Max(1, elements) * TensorWriter.SizeOf(spec.Element);
        if (slot.Buffer is null || slot.Buffer.Capacity < bytes)
        {
            slot.Value?.Dispose();
            slot.Value = null;
            slot.Buffer?.Dispose();
            // Room to grow: lengths creep up request by request, and each reallocation would also rebind.
            slot.Buffer = _buffers.Allocate(Math.Max(bytes, (slot.Buffer?.Capacity ?? 0) * 2));
        }

        return slot;
    }

    private void Bind(InputSlot slot, ReadOnlySpan<long> shape)
    {
        slot.Value?.Dispose();
        var bytes = TensorWriter.SizeOf(slot.Spec.Element) * ShapeElements(shape);
        slot.Value = OrtValue.CreateTensorValueWithData(
            _buffers.InputMemory, ModelSignature.TypeOf(slot.Spec.Element), shape.ToArray(), slot.Buffer!.Pointer, bytes);
        _binding.BindInput(slot.Spec.Name, slot.Value);
        slot.IsSet = true;
    }

    private static long ShapeElements(ReadOnlySpan<long> shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            n *= d;
        }

        return n;
    }

    private sealed class InputSlot(TensorSpec spec)
    {
        public TensorSpec Spec { get; } = spec;

        public HostBuffer? Buffer { get; set; }

        public OrtValue? Value { get; set; }

        public bool IsSet { get; set; }
    }
}

/// <summary>Writes values into a host buffer as the element type a model declares.</summary>
internal static unsafe class TensorWriter
{
    public static long SizeOf(ElementKind element) => element switch
    {
        ElementKind.Float32 or ElementKind.Int32 => 4,
        ElementKind.Float64 or ElementKind.Int64 => 8,
        ElementKind.Float16 => 2,
        ElementKind.Bool => 1,
        _ => throw new NotSupportedException($"Inputs of element type {element} are not supported."),
    };

    public static void Write(ElementKind element, ReadOnlySpan<long> values, nint destination)
    {
        switch (element)
        {
            case ElementKind.Int64:
                values.CopyTo(new Span<long>((void*)destination, values.Length));
                break;
            case ElementKind.Int32:
                var ints = new Span<int>((void*)destination, values.Length);
                for (var i = 0; i < values.Length; i++)
                {
                    ints[i] = checked((int)values[i]);
                }

                break;
            default:
                var copy = values.ToArray();
                WriteFloats(element, copy.Length, i => copy[i], destination);
                break;
        }
    }

    public static void Write(ElementKind element, ReadOnlySpan<float> values, nint destination)
    {
        switch (element)
        {
            case ElementKind.Float32:
                values.CopyTo(new Span<float>((void*)destination, values.Length));
                break;
            case ElementKind.Int64:
                var longs = new Span<long>((void*)destination, values.Length);
                for (var i = 0; i < values.Length; i++)
                {
                    longs[i] = (long)MathF.Round(values[i]);
                }

                break;
            case ElementKind.Int32:
                var ints = new Span<int>((void*)destination, values.Length);
                for (var i = 0; i < values.Length; i++)
                {
                    ints[i] = (int)MathF.Round(values[i]);
                }

                break;
            default:
                var copy = values.ToArray();
                WriteFloats(element, copy.Length, i => copy[i], destination);
                break;
        }
    }

    private static void WriteFloats(ElementKind element, int count, Func<int, double> value, nint destination)
    {
        switch (element)
        {
            case ElementKind.Float32:
                var floats = new Span<float>((void*)destination, count);
                for (var i = 0; i < count; i++)
                {
                    floats[i] = (float)value(i);
                }

                break;
            case ElementKind.Float64:
                var doubles = new Span<double>((void*)destination, count);
                for (var i = 0; i < count; i++)
                {
                    doubles[i] = value(i);
                }

                break;
            case ElementKind.Float16:
                var halves = new Span<Half>((void*)destination, count);
                for (var i = 0; i < count; i++)
                {
                    halves[i] = (Half)value(i);
                }

                break;
            case ElementKind.Bool:
                var bools = new Span<byte>((void*)destination, count);
                for (var i = 0; i < count; i++)
                {
                    bools[i] = value(i) != 0 ? (byte)1 : (byte)0;
                }

                break;
            default:
                throw new NotSupportedException($"Inputs of element type {element} are not supported.");
        }
    }
}
