using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.OnnxRuntime;

namespace Mesh.Backend.Engine;

/// <summary>
/// A stage run on shape buckets: per bucket, fixed buffers for every input and output (device memory on the CUDA
/// provider) bound once, and with <see cref="CapturesGraphs"/> one CUDA graph captured per bucket on the worker's thread
/// at load. A run pads its inputs along the bucketed dimension to the smallest bucket that holds them, copies them in
/// on the worker's stream, runs (replays), copies the outputs out and trims them back to the request. Integer inputs
/// and any outputs of up to 64 KiB each skip the copies: they live in memory both the host and the device address.
/// </summary>
/// <remarks>
/// ONNX Runtime replays a graph id without looking at shapes, so a run whose padded shapes differ from the bucket's is an
/// error here, never a replay. An output named <c>next_X</c> with the shape of input <c>X</c> is recurrent state:
/// <see cref="StartDecode"/> keeps it on the device between steps, alternating two captured bindings per bucket.
/// With graphs, each bucket's replay is timed at load and a request runs on the fastest bucket that holds it
/// (<see cref="Routes"/>): usually its own, a larger one where the kernels chosen for that shape are clearly faster.
/// </remarks>
public sealed class BucketedGraph : WorkerGraph
{
    // ONNX Runtime runs a graph id twice before capturing it on the third run; the fourth is a replay.
    private const int RunsToCapture = 3;

    // Replays timed per bucket at load to route requests; a median of a few, since a replay takes well under a millisecond.
    private const int TimedReplays = 9;

    // Token ids in and small outputs (logits) are shared host/device memory up to this size: a kernel touches each byte
    // once, so the bus costs less than a copy and a stream sync on each side of a run of a quarter of a millisecond.
    private const long SharedBytesLimit = 64 * 1024;

    /// <summary>
    /// Capture is global to the process's CUDA context: an allocation or copy on another thread meanwhile invalidates it.
    /// Held while a worker captures and times its buckets, and while one makes its sessions (their weights are copied in).
    /// </summary>
    internal static readonly Lock CaptureGate = new();

    private readonly InferenceSession _session;
    private readonly DeviceMemory _memory;
    private readonly Dictionary<string, PendingInput> _pending = [];
    private readonly Bucket[] _buckets;
    private readonly Dictionary<int, Bucket> _runsOn = [];
    private readonly string? _stateInput;
    private readonly string? _stateOutput;
    private int _nextGraphId = 1;

    internal BucketedGraph(
        string model, string name, int worker, InferenceSession session, GraphBucketing bucketing, DeviceMemory memory, bool captureGraphs, IEngineObserver? observer)
        : base(model, name, worker, session, observer)
    {
        _session = session;
        _memory = memory;
        Bucketing = bucketing;
        CapturesGraphs = captureGraphs;
        if (bucketing.Misfit(Signature) is { } misfit)
        {
            throw new EngineLoadException($"Graph '{name}' cannot run on '{bucketing.Dimension}' buckets: {misfit}.");
        }

        RejectUnsupportedElements(name, session);
        var state = Signature.Inputs.FirstOrDefault(i => Signature.Output("next_" + i.Name) is { } o && o.Shape.SequenceEqual(i.Shape));
        _stateInput = state?.Name;
        _stateOutput = state is null ? null : "next_" + state.Name;

        var buckets = new List<Bucket>();
        try
        {
            lock (CaptureGate)
            {
                // Largest first: the arena grows to its size in eager runs, so no capture ever needs a new allocation.
                foreach (var size in bucketing.Sizes.Reverse())
                {
                    buckets.Add(CreateBucket(size));
                }

                buckets.Reverse();
                // Timed under the gate as well: another worker capturing meanwhile would skew the times.
                Routes = CapturesGraphs ? BucketRoute.Fastest(bucketing.Sizes, [.. buckets.Select(MedianReplayMs)]) : [];
            }
        }
        catch
        {
            buckets.ForEach(b => b.Dispose());
            throw;
        }

        _buckets = [.. buckets];
        foreach (var bucket in _buckets)
        {
            var runsOn = Routes.FirstOrDefault(r => r.Bucket == bucket.Size)?.RunsOn ?? bucket.Size;
            _runsOn[bucket.Size] = _buckets.First(b => b.Size == runsOn);
        }
    }

    public GraphBucketing Bucketing { get; }

    /// <summary>Whether each bucket replays a captured CUDA graph (else its runs are ordinary runs on fixed buffers).</summary>
    public bool CapturesGraphs { get; }

    /// <summary>
    /// With graphs, where a request runs per bucket that holds it, from replays timed at load; empty without graphs (a
    /// request runs on the smallest bucket that holds it).
    /// </summary>
    public IReadOnlyList<BucketRoute> Routes { get; } = [];

    /// <summary>Runs that replayed a captured graph, warm-up excluded.</summary>
    public long Replays { get; private set; }

    /// <summary>Captured graphs (one per bucket, two for recurrent stages).</summary>
    public int CapturedGraphs => CapturesGraphs ? _buckets.Sum(b => b.Bindings.Length) : 0;

    public override void SetInput(string name, ReadOnlySpan<long> values, ReadOnlySpan<long> shape)
    {
        var spec = CheckInput(name, values.Length, shape);
        _pending[spec.Name] = new PendingInput(spec, shape.ToArray(), values.ToArray(), null);
    }

    public override void SetInput(string name, ReadOnlySpan<float> values, ReadOnlySpan<long> shape)
    {
        var spec = CheckInput(name, values.Length, shape);
        _pending[spec.Name] = new PendingInput(spec, shape.ToArray(), null, values.ToArray());
    }

    public override EngineOutputs Run()
    {
        var missing = Signature.Inputs.Where(i => !_pending.ContainsKey(i.Name)).Select(i => i.Name).ToArray();
        if (missing.Length > 0)
        {
            throw new InvalidOperationException($"Graph '{Name}' needs inputs {string.Join(", ", missing)} before it runs.");
        }

        var start = Stopwatch.GetTimestamp();
        var length = RequestLength();
        var bucket = BucketFor(length);
        var copied = false;
        foreach (var pending in _pending.Values)
        {
            var target = bucket.Inputs[pending.Spec.Name];
            AssertBucketShape(bucket, target, pending.Shape);
            WritePadded(pending, target);
            copied |= CopyIn(target);
        }

        _pending.Clear();
        SyncBeforeRun(copied);
        var bound = Stopwatch.GetTimestamp();
        Execute(bucket.Bindings[0]);
        var ran = Stopwatch.GetTimestamp();
        var outputs = Fetch(bucket, length, skip: null);
        Report(GraphLabel(bucket), bound - start, ran - bound, Stopwatch.GetTimestamp() - ran);
        return outputs;
    }

    /// <summary>
    /// Starts an autoregressive decode of <paramref name="batch"/> streams: the recurrent state starts at zero and stays in
    /// device buffers between steps; each step copies in only the tokens and copies out only the other outputs.
    /// </summary>
    public DecodeLoop StartDecode(int batch)
    {
        if (_stateInput is null)
        {
            throw new InvalidOperationException($"Graph '{Name}' has no recurrent state (an output 'next_X' shaped like an input 'X').");
        }

        // A step writes only the tokens, one per stream along the bucketed dimension: any other input would keep stale values.
        var others = Signature.Inputs.Where(i => i.Name != _stateInput).ToArray();
        if (others.Length != 1)
        {
            throw new InvalidOperationException(
                $"Graph '{Name}' cannot decode step by step: a step takes one input besides the state '{_stateInput}', and it has {others.Length} ({string.Join(", ", others.Select(i => i.Name))}).");
        }

        var tokens = others[0];
        if (tokens.AxisOf(Bucketing.Dimension) < 0)
        {
            throw new InvalidOperationException(
                $"Graph '{Name}' cannot decode step by step: its token input {tokens} has no '{Bucketing.Dimension}' dimension to hold one token per stream.");
        }

        var bucket = BucketFor(batch);
        var state = bucket.Inputs[_stateInput];
        _memory.Zero(state.Device, state.Bytes);
        // A step whose tokens need no copy does not sync before its run: the zeroed state must be there already.
        _memory.Synchronize();
        return new DecodeLoop(this, bucket, batch, tokens.Name);
    }

    protected override void Dispose(bool disposing)
    {
        foreach (var bucket in _buckets)
        {
            bucket.Dispose();
        }
    }

    private EngineOutputs Step(Bucket bucket, int batch, int parity, string tokenInput, ReadOnlySpan<long> tokens)
    {
        var start = Stopwatch.GetTimestamp();
        var target = bucket.Inputs[tokenInput];
        long[] shape = [.. target.Shape];
        shape[target.Axis] = batch;
        var pending = new PendingInput(CheckInput(tokenInput, tokens.Length, shape), shape, tokens.ToArray(), null);
        WritePadded(pending, target);
        SyncBeforeRun(CopyIn(target));
        var bound = Stopwatch.GetTimestamp();
        Execute(bucket.Bindings[parity]);
        var ran = Stopwatch.GetTimestamp();
        var outputs = Fetch(bucket, batch, skip: _stateOutput);
        Report(GraphLabel(bucket), bound - start, ran - bound, Stopwatch.GetTimestamp() - ran);
        return outputs;
    }

    /// <summary>
    /// Fixed buffers are sized and described by element type, so a tensor of a type the engine does not convert fails the
    /// load here, named, before anything is allocated.
    /// </summary>
    private void RejectUnsupportedElements(string name, InferenceSession session)
    {
        var unsupported = Signature.Inputs.Where(i => i.Element == ElementKind.Other).Select(i => ("input", i.Name, session.InputMetadata[i.Name]))
            .Concat(Signature.Outputs.Where(o => o.Element == ElementKind.Other).Select(o => ("output", o.Name, session.OutputMetadata[o.Name])));
        foreach (var (role, tensor, metadata) in unsupported)
        {
            // ElementKind folds every type the engine does not convert into Other: the export's own type says which.
            var type = metadata.IsTensor ? metadata.ElementDataType.ToString() : metadata.OnnxValueType.ToString();
            var supported = Enum.GetValues<ElementKind>().Where(k => k != ElementKind.Other).Select(k => k.ToString().ToLowerInvariant());
            throw new EngineLoadException(
                $"Graph '{name}' cannot run on '{Bucketing.Dimension}' buckets: {role} '{tensor}' has element type {type}; bucketed stages take {string.Join(", ", supported)}.");
        }
    }

    private Bucket CreateBucket(int size)
    {
        var bucket = new Bucket(size);
        try
        {
            foreach (var input in Signature.Inputs)
            {
                var shape = input.Shape.Select((d, i) => input.Symbols[i] == Bucketing.Dimension ? size : d).ToArray();
                var shared = input.IsInteger && input.Name != _stateInput && SizeInBytes(input, shape) <= SharedBytesLimit;
                var tensor = FixedTensor.Allocate(input, shape, input.AxisOf(Bucketing.Dimension), 1, _memory, shared);
                bucket.Inputs.Add(input.Name, tensor);
                _memory.Zero(tensor.Device, tensor.Bytes);
            }

            _memory.Synchronize();
            foreach (var (output, shape) in Signature.Outputs.Zip(ProbeOutputShapes(bucket)))
            {
                var (axis, units) = TrimAxis(output, shape, size);
                var shared = output.Name != _stateOutput && SizeInBytes(output, shape) <= SharedBytesLimit;
                bucket.Outputs.Add(output.Name, FixedTensor.Allocate(output, shape, axis, units, _memory, shared));
            }

            bucket.Bindings = _stateInput is null
                ? [Bind(bucket, swapState: false)]
                : [Bind(bucket, swapState: false), Bind(bucket, swapState: true)];
            foreach (var binding in bucket.Bindings)
            {
                // Warm runs (cuDNN and arena at this shape), then the capture; one more replays it before any request does.
                for (var run = 0; run < (CapturesGraphs ? RunsToCapture + 1 : 1); run++)
                {
                    Execute(binding);
                }

                binding.Runs = 0;
            }

            _memory.Synchronize();
            return bucket;
        }
        catch
        {
            bucket.Dispose();
            throw;
        }
    }

    private double MedianReplayMs(Bucket bucket)
    {
        var binding = bucket.Bindings[0];
        var times = new double[TimedReplays];
        for (var i = 0; i < times.Length; i++)
        {
            var started = Stopwatch.GetTimestamp();
            Execute(binding);
            times[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }

        binding.Runs = 0;
        Array.Sort(times);
        return times[times.Length / 2];
    }

    /// <summary>One eager run with outputs allocated by ONNX Runtime, to learn the bucket's output shapes.</summary>
    private long[][] ProbeOutputShapes(Bucket bucket)
    {
        using var binding = _session.CreateIoBinding();
        using var options = new RunOptions();
        if (CapturesGraphs)
        {
            options.AddRunConfigEntry("gpu_graph_id", "-1");
        }

        foreach (var (name, tensor) in bucket.Inputs)
        {
            binding.BindInput(name, tensor.Value);
        }

        foreach (var output in Signature.Outputs)
        {
            binding.BindOutputToDevice(output.Name, _memory.DeviceInfo);
        }

        using var results = _session.RunWithBoundResults(options, binding);
        return [.. results.Select(r => r.GetTensorTypeAndShape().Shape)];
    }

    /// <summary>
    /// The output axis that follows the request: the one declared with the bucketed dimension (one unit per step), or
    /// else a dynamic axis that is a whole multiple of the bucket (audio samples per frame); -1 when the output is fixed.
    /// </summary>
    private (int Axis, long Units) TrimAxis(TensorSpec output, long[] shape, int size)
    {
        var named = output.AxisOf(Bucketing.Dimension);
        if (named >= 0)
        {
            return (named, 1);
        }

        for (var i = 0; i < shape.Length; i++)
        {
            if (output.Shape[i] < 0 && shape[i] % size == 0)
            {
                return (i, shape[i] / size);
            }
        }

        return (-1, 0);
    }

    private Binding Bind(Bucket bucket, bool swapState)
    {
        var binding = new Binding(_session.CreateIoBinding(), new RunOptions(), CapturesGraphs ? _nextGraphId++ : -1);
        if (CapturesGraphs)
        {
            binding.Options.AddRunConfigEntry("gpu_graph_id", binding.GraphId.ToString(CultureInfo.InvariantCulture));
        }

        foreach (var (name, tensor) in bucket.Inputs)
        {
            // The odd step reads the state the even step wrote, and writes where the even step reads.
            binding.IoBinding.BindInput(name, swapState && name == _stateInput ? bucket.Outputs[_stateOutput!].Value : tensor.Value);
        }

        foreach (var (name, tensor) in bucket.Outputs)
        {
            binding.IoBinding.BindOutput(name, swapState && name == _stateOutput ? bucket.Inputs[_stateInput!].Value : tensor.Value);
        }

        return binding;
    }

    /// <summary>Queues the copy of a staged input to its device buffer; false when the buffer is shared and needs none.</summary>
    private bool CopyIn(FixedTensor target)
    {
        if (target.Shared)
        {
            return false;
        }

        _memory.CopyToDevice(target.Device, target.Host, target.Bytes);
        return true;
    }

    /// <summary>A capturing session computes on its provider's own stream, not the worker's: the copies must land first.</summary>
    private void SyncBeforeRun(bool copied)
    {
        if (CapturesGraphs && copied)
        {
            _memory.Synchronize();
        }
    }

    private void Execute(Binding binding)
    {
        _session.RunWithBinding(binding.Options, binding.IoBinding);
        binding.Runs++;
    }

    /// <summary>
    /// Copies the outputs but <paramref name="skip"/> out and trims them. A replay returns once the provider's own stream
    /// is done, so with graphs shared outputs are complete without a sync; without, the run was on the worker's stream.
    /// </summary>
    private EngineOutputs Fetch(Bucket bucket, long length, string? skip)
    {
        var copied = false;
        foreach (var (name, tensor) in bucket.Outputs)
        {
            if (name != skip && !tensor.Shared)
            {
                _memory.CopyToHost(tensor.Host, tensor.Device, tensor.Bytes);
                copied = true;
            }
        }

        if (copied || !CapturesGraphs)
        {
            _memory.Synchronize();
        }

        if (CapturesGraphs)
        {
            Replays++;
        }

        var tensors = new List<EngineTensor>(bucket.Outputs.Count);
        foreach (var (name, tensor) in bucket.Outputs)
        {
            if (name != skip)
            {
                tensors.Add(tensor.ReadTrimmed(name, length));
            }
        }

        return new EngineOutputs(tensors);
    }

    private long RequestLength()
    {
        long length = -1;
        foreach (var pending in _pending.Values)
        {
            var axis = pending.Spec.AxisOf(Bucketing.Dimension);
            if (axis < 0)
            {
                continue;
            }

            if (length >= 0 && pending.Shape[axis] != length)
            {
                throw new ArgumentException(
                    $"Graph '{Name}': inputs disagree on '{Bucketing.Dimension}' ({length} and {pending.Shape[axis]} for '{pending.Spec.Name}').");
            }

            length = pending.Shape[axis];
        }

        return length;
    }

    private Bucket BucketFor(long length)
    {
        var size = Bucketing.BucketFor(length);
        if (length < 1 || size < 0)
        {
            throw new ArgumentOutOfRangeException(
                nameof(length), length, $"Graph '{Name}' runs '{Bucketing.Dimension}' from 1 to {Bucketing.Largest} (buckets {string.Join(",", Bucketing.Sizes)}).");
        }

        return _runsOn[size];
    }

    /// <summary>The assert ONNX Runtime does not make: a replay must see exactly the shapes its graph was captured with.</summary>
    private void AssertBucketShape(Bucket bucket, FixedTensor target, long[] requested)
    {
        for (var i = 0; i < requested.Length; i++)
        {
            var expected = i == target.Axis ? bucket.Size : target.Shape[i];
            if (i == target.Axis ? requested[i] > expected : requested[i] != expected)
            {
                throw new InvalidOperationException(
                    $"Graph '{Name}' bucket {bucket.Size}: input '{target.Spec.Name}' [{string.Join(",", requested)}] does not fit the captured [{string.Join(",", target.Shape)}].");
            }
        }
    }

    private static long SizeInBytes(TensorSpec spec, long[] shape) => TensorWriter.SizeOf(spec.Element) * ShapeElements(shape);

    private string GraphLabel(Bucket bucket) => CapturesGraphs ? $"{Name}/{bucket.Size}" : EngineRunTiming.Eager;

    private static unsafe void WritePadded(PendingInput pending, FixedTensor target)
    {
        var size = TensorWriter.SizeOf(target.Spec.Element);
        if (target.Axis < 0)
        {
            Write(pending, 0, pending.Count, target.Host);
            return;
        }

        var (outer, inner) = target.Split();
        var length = pending.Shape[target.Axis];
        var block = length * inner;
        var stride = target.Shape[target.Axis] * inner;
        for (long o = 0; o < outer; o++)
        {
            var destination = target.Host + (nint)(o * stride * size);
            Write(pending, (int)(o * block), (int)block, destination);
            new Span<byte>((void*)(destination + (nint)(block * size)), checked((int)((stride - block) * size))).Clear();
        }
    }

    private static void Write(PendingInput pending, int offset, int count, nint destination)
    {
        if (pending.Longs is { } longs)
        {
            TensorWriter.Write(pending.Spec.Element, longs.AsSpan(offset, count), destination);
        }
        else
        {
            TensorWriter.Write(pending.Spec.Element, pending.Floats.AsSpan(offset, count), destination);
        }
    }

    /// <summary>One stream of steps on one bucket; see <see cref="StartDecode"/>. Used on its worker's thread only.</summary>
    public sealed class DecodeLoop
    {
        private readonly BucketedGraph _graph;
        private readonly Bucket _bucket;
        private readonly string _tokenInput;
        private int _parity;

        internal DecodeLoop(BucketedGraph graph, Bucket bucket, int batch, string tokenInput)
        {
            _graph = graph;
            _bucket = bucket;
            _tokenInput = tokenInput;
            Batch = batch;
        }

        public int Batch { get; }

        /// <summary>The bucket the loop runs on (its batch padded up).</summary>
        public int BucketSize => _bucket.Size;

        /// <summary>One decode step: <paramref name="tokens"/> (one per stream) in, the step's outputs but the state out.</summary>
        public EngineOutputs Step(ReadOnlySpan<long> tokens)
        {
            var outputs = _graph.Step(_bucket, Batch, _parity, _tokenInput, tokens);
            _parity ^= 1;
            return outputs;
        }
    }

    private sealed record PendingInput(TensorSpec Spec, long[] Shape, long[]? Longs, float[]? Floats)
    {
        public int Count => Longs?.Length ?? Floats!.Length;
    }

    internal sealed class Binding(OrtIoBinding ioBinding, RunOptions options, int graphId) : IDisposable
    {
        public OrtIoBinding IoBinding { get; } = ioBinding;

        public RunOptions Options { get; } = options;

        public int GraphId { get; } = graphId;

        public long Runs { get; set; }

        public void Dispose()
        {
            IoBinding.Dispose();
            Options.Dispose();
        }
    }

    internal sealed class Bucket(int size) : IDisposable
    {
        public int Size { get; } = size;

        public Dictionary<string, FixedTensor> Inputs { get; } = [];

        public Dictionary<string, FixedTensor> Outputs { get; } = [];

        public Binding[] Bindings { get; set; } = [];

        public void Dispose()
        {
            foreach (var binding in Bindings)
            {
                binding.Dispose();
            }

            foreach (var tensor in Inputs.Values.Concat(Outputs.Values))
            {
                tensor.Dispose();
            }
        }
    }

    /// <summary>
    /// A tensor at a fixed device address with its host staging buffer, or one <see cref="Shared"/> buffer both address;
    /// <see cref="Axis"/> follows the request.
    /// </summary>
    internal sealed class FixedTensor : IDisposable
    {
        private readonly DeviceMemory _memory;

        private FixedTensor(TensorSpec spec, long[] shape, int axis, long units, long bytes, DeviceMemory memory, bool shared)
        {
            Spec = spec;
            Shared = shared;
            Shape = shape;
            Axis = axis;
            Units = units;
            Bytes = bytes;
            _memory = memory;
        }

        public TensorSpec Spec { get; }

        public long[] Shape { get; }

        public int Axis { get; }

        /// <summary>Elements along <see cref="Axis"/> per unit of request length.</summary>
        public long Units { get; }

        public long Bytes { get; }

        /// <summary>Host and device address the same memory: nothing to copy either way.</summary>
        public bool Shared { get; }

        public nint Device { get; private set; }

        public nint Host { get; private set; }

        public OrtValue Value { get; private set; } = null!;

        public static FixedTensor Allocate(TensorSpec spec, long[] shape, int axis, long units, DeviceMemory memory, bool shared)
        {
            var bytes = SizeInBytes(spec, shape);
            var tensor = new FixedTensor(spec, shape, axis, units, bytes, memory, shared);
            try
            {
                if (shared)
                {
                    (tensor.Host, tensor.Device) = memory.AllocateShared(bytes);
                }
                else
                {
                    tensor.Device = memory.AllocateDevice(bytes);
                    tensor.Host = memory.AllocateHost(bytes);
                }

                tensor.Value = OrtValue.CreateTensorValueWithData(memory.DeviceInfo, ModelSignature.TypeOf(spec.Element), shape, tensor.Device, bytes);
                return tensor;
            }
            catch
            {
                tensor.Dispose();
                throw;
            }
        }

        /// <summary>Elements before and after <see cref="Axis"/>.</summary>
        public (long Outer, long Inner) Split() =>
            (ShapeElements(Shape.AsSpan(0, Axis)), ShapeElements(Shape.AsSpan(Axis + 1)));

        /// <summary>The host copy, cut back along <see cref="Axis"/> to <paramref name="length"/> units.</summary>
        public unsafe EngineTensor ReadTrimmed(string name, long length)
        {
            var size = TensorWriter.SizeOf(Spec.Element);
            var source = new ReadOnlySpan<byte>((void*)Host, checked((int)Bytes));
            if (Axis < 0)
            {
                return EngineTensor.FromBytes(name, Spec.Element, Shape, source);
            }

            var (outer, inner) = Split();
            var extent = length * Units;
            var shape = (long[])Shape.Clone();
            shape[Axis] = extent;
            if (outer == 1)
            {
                // The request is a prefix of the buffer (batch rows, frames, samples): one copy.
                return EngineTensor.FromBytes(name, Spec.Element, shape, source[..(int)(extent * inner * size)]);
            }

            var trimmed = new byte[outer * extent * inner * size];
            for (long o = 0; o < outer; o++)
            {
                source.Slice((int)(o * Shape[Axis] * inner * size), (int)(extent * inner * size)).CopyTo(trimmed.AsSpan((int)(o * extent * inner * size)));
            }

            return EngineTensor.FromBytes(name, Spec.Element, shape, trimmed);
        }

        public void Dispose()
        {
            Value?.Dispose();
            if (Shared)
            {
                if (Host != 0)
                {
                    _memory.FreeShared(Host);
                }

                return;
            }

            if (Device != 0)
            {
                _memory.FreeDevice(Device);
            }

            if (Host != 0)
            {
                _memory.FreeHost(Host);
            }
        }
    }
}
