using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;

namespace Mesh.Backend.Engine;

/// <summary>
/// An unbucketed graph: its own IO binding and input buffers in (pinned) host memory, outputs bound to host memory and
/// allocated by ONNX Runtime each run, since their shapes depend on the data (durations).
/// </summary>
internal sealed class HostBoundGraph : WorkerGraph
{
    private readonly InferenceSession _session;
    private readonly OrtIoBinding _binding;
    private readonly RunOptions _runOptions = new();
    private readonly HostBufferSource _buffers;
    private readonly Dictionary<string, InputSlot> _inputs;
    private long _bindTicks;

    public HostBoundGraph(string model, string name, int worker, InferenceSession session, HostBufferSource buffers, IEngineObserver? observer)
        : base(model, name, worker, session, observer)
    {
        _session = session;
        _buffers = buffers;
        _binding = session.CreateIoBinding();
        _inputs = Signature.Inputs.ToDictionary(i => i.Name, i => new InputSlot(i));
    }

    public override void SetInput(string name, ReadOnlySpan<long> values, ReadOnlySpan<long> shape)
    {
        var start = Stopwatch.GetTimestamp();
        var slot = Prepare(name, values.Length, shape);
        TensorWriter.Write(slot.Spec.Element, values, slot.Buffer!.Pointer);
        Bind(slot, shape);
        _bindTicks += Stopwatch.GetTimestamp() - start;
    }

    public override void SetInput(string name, ReadOnlySpan<float> values, ReadOnlySpan<long> shape)
    {
        var start = Stopwatch.GetTimestamp();
        var slot = Prepare(name, values.Length, shape);
        TensorWriter.Write(slot.Spec.Element, values, slot.Buffer!.Pointer);
        Bind(slot, shape);
        _bindTicks += Stopwatch.GetTimestamp() - start;
    }

    public override EngineOutputs Run()
    {
        var missing = _inputs.Values.Where(s => !s.IsSet).Select(s => s.Spec.Name).ToArray();
        if (missing.Length > 0)
        {
            throw new InvalidOperationException($"Graph '{Name}' needs inputs {string.Join(", ", missing)} before it runs.");
        }

        // A binding left from the last run would hold that run's output shapes.
        var bindStart = Stopwatch.GetTimestamp();
        _binding.ClearBoundOutputs();
        foreach (var output in Signature.Outputs)
        {
            _binding.BindOutputToDevice(output.Name, _buffers.OutputMemory);
        }

        var bind = _bindTicks + (Stopwatch.GetTimestamp() - bindStart);
        _bindTicks = 0;
        var runStart = Stopwatch.GetTimestamp();
        using var results = _session.RunWithBoundResults(_runOptions, _binding);
        var run = Stopwatch.GetTimestamp() - runStart;

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

        Report(EngineRunTiming.Eager, bind, run, Stopwatch.GetTimestamp() - fetchStart);
        return new EngineOutputs(tensors);
    }

    protected override void Dispose(bool disposing)
    {
        foreach (var slot in _inputs.Values)
        {
            slot.Value?.Dispose();
            slot.Buffer?.Dispose();
        }

        _binding.Dispose();
        _runOptions.Dispose();
    }

    private InputSlot Prepare(string name, int count, ReadOnlySpan<long> shape)
    {
        var spec = CheckInput(name, count, shape);
        var slot = _inputs[spec.Name];
        var bytes = Math.Max(1, count) * TensorWriter.SizeOf(spec.Element);
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

    private sealed class InputSlot(TensorSpec spec)
    {
        public TensorSpec Spec { get; } = spec;

        public HostBuffer? Buffer { get; set; }

        public OrtValue? Value { get; set; }

        public bool IsSet { get; set; }
    }
}
