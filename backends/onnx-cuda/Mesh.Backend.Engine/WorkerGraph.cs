using System.Diagnostics;
using Mesh.Backend.Quantizer;
using Microsoft.ML.OnnxRuntime;

namespace Mesh.Backend.Engine;

/// <summary>
/// One graph as one worker runs it. Inputs are converted to the element type the model declares, so callers pass longs or
/// floats whatever the export chose. Not thread-safe: only its worker's thread uses it.
/// </summary>
public abstract class WorkerGraph : IDisposable
{
    private readonly IEngineObserver? _observer;
    private readonly string _model;
    private readonly int _worker;

    private protected WorkerGraph(string model, string name, int worker, InferenceSession session, IEngineObserver? observer)
    {
        _model = model;
        Name = name;
        _worker = worker;
        _observer = observer;
        Signature = ModelSignature.Of(session);
        Precision = MatMulNBitsRewriter.PrecisionOf(session.ModelMetadata.CustomMetadataMap) == MatMulNBitsRewriter.Int8Precision
            ? Precisions.Int8
            : Precisions.Fp32;
    }

    /// <summary>The graph's stage name within its package.</summary>
    public string Name { get; }

    public ModelSignature Signature { get; }

    /// <summary>The graph's weight precision, from the model metadata the INT8 rewriter writes.</summary>
    public string Precision { get; }

    public abstract void SetInput(string name, ReadOnlySpan<long> values, ReadOnlySpan<long> shape);

    public abstract void SetInput(string name, ReadOnlySpan<float> values, ReadOnlySpan<long> shape);

    /// <summary>Runs the graph on the inputs set since the last run and copies every output out.</summary>
    public abstract EngineOutputs Run();

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    protected abstract void Dispose(bool disposing);

    private protected void Report(string graph, long bindTicks, long runTicks, long fetchTicks) =>
        _observer?.RunCompleted(new EngineRunTiming(
            _model, Name, graph, _worker, Stopwatch.GetElapsedTime(0, bindTicks), Stopwatch.GetElapsedTime(0, runTicks), Stopwatch.GetElapsedTime(0, fetchTicks))
        {
            Precision = Precision,
        });

    /// <summary>Checks <paramref name="shape"/> against the declared input and the value count; returns the input's spec.</summary>
    private protected TensorSpec CheckInput(string name, int count, ReadOnlySpan<long> shape)
    {
        var spec = Signature.Input(name) ?? throw new ArgumentException($"Graph '{Name}' has no input '{name}' ({Signature}).", nameof(name));
        if (shape.Length != spec.Rank)
        {
            throw new ArgumentException($"Input '{name}' has rank {spec.Rank}; got a shape of rank {shape.Length}.", nameof(shape));
        }

        for (var i = 0; i < shape.Length; i++)
        {
            if (spec.Shape[i] >= 0 && spec.Shape[i] != shape[i])
            {
                throw new ArgumentException($"Input '{name}' has dimension {i} fixed at {spec.Shape[i]}; got {shape[i]}.", nameof(shape));
            }
        }

        if (ShapeElements(shape) != count)
        {
            throw new ArgumentException($"Input '{name}': {count} values do not fill shape [{string.Join(",", shape.ToArray())}].", nameof(shape));
        }

        return spec;
    }

    private protected static long ShapeElements(ReadOnlySpan<long> shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            n *= d;
        }

        return n;
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
