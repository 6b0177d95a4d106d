using Microsoft.ML.OnnxRuntime;

namespace Mesh.Backend.Engine;

/// <summary>
/// One inference worker: its graphs with their own bindings and buffers and, on the CUDA provider, its own sessions
/// bound to its own CUDA stream. Used only on the worker's dedicated thread.
/// </summary>
public sealed class InferenceWorker : IDisposable
{
    private readonly Dictionary<string, WorkerGraph> _graphs;
    private readonly IReadOnlyList<InferenceSession> _ownedSessions;
    private readonly HostBufferSource _buffers;
    private readonly DeviceMemory _memory;
    private readonly nint _stream;

    internal InferenceWorker(
        int index,
        Dictionary<string, WorkerGraph> graphs,
        IReadOnlyList<InferenceSession> ownedSessions,
        HostBufferSource buffers,
        DeviceMemory memory,
        nint stream)
    {
        Index = index;
        _graphs = graphs;
        _ownedSessions = ownedSessions;
        _buffers = buffers;
        _memory = memory;
        _stream = stream;
    }

    public int Index { get; }

    public IReadOnlyCollection<string> GraphNames => _graphs.Keys;

    public WorkerGraph Graph(string name) =>
        _graphs.TryGetValue(name, out var graph)
            ? graph
            : throw new KeyNotFoundException($"The model has no graph '{name}'; it has {string.Join(", ", _graphs.Keys)}.");

    public void Dispose()
    {
        foreach (var graph in _graphs.Values)
        {
            graph.Dispose();
        }

        _buffers.Dispose();
        _memory.Dispose();
        foreach (var session in _ownedSessions)
        {
            session.Dispose();
        }

        CudaRuntime.DestroyStream(_stream);
    }
}
