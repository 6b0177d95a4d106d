using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace Mesh.Backend.Engine;

/// <summary>Host memory a worker writes its inputs into; grown, never shrunk, so steady-state runs allocate nothing.</summary>
internal abstract class HostBuffer : IDisposable
{
    public abstract nint Pointer { get; }

    public abstract long Capacity { get; }

    public abstract void Dispose();
}

/// <summary>Where a worker's host buffers come from and the memory info its tensors are described with.</summary>
internal abstract class HostBufferSource : IDisposable
{
    public abstract OrtMemoryInfo InputMemory { get; }

    public abstract OrtMemoryInfo OutputMemory { get; }

    public abstract HostBuffer Allocate(long bytes);

    public virtual void Dispose()
    {
    }
}

/// <summary>CPU provider: pinned managed arrays, which ONNX Runtime reads in place.</summary>
internal sealed class PinnedArraySource : HostBufferSource
{
    public override OrtMemoryInfo InputMemory => OrtMemoryInfo.DefaultInstance;

    public override OrtMemoryInfo OutputMemory => OrtMemoryInfo.DefaultInstance;

    public override HostBuffer Allocate(long bytes) => new PinnedArray(bytes);

    private sealed class PinnedArray(long bytes) : HostBuffer
    {
        private readonly byte[] _array = GC.AllocateUninitializedArray<byte>(checked((int)Math.Max(bytes, 16)), pinned: true);

        public override unsafe nint Pointer => (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_array));

        public override long Capacity => _array.Length;

        public override void Dispose()
        {
        }
    }
}

/// <summary>
/// CUDA provider: inputs are written into page-locked memory from <c>cudaMallocHost</c>, so ONNX Runtime's copies to the
/// device run at full bandwidth; outputs are bound to the session's CudaPinned allocator where the provider offers one,
/// else to ordinary host memory.
/// </summary>
internal sealed class CudaPinnedSource : HostBufferSource
{
    private readonly OrtMemoryInfo? _pinnedOutput;

    public CudaPinnedSource(InferenceSession session, int deviceId)
    {
        var pinned = new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA_PINNED, OrtAllocatorType.DeviceAllocator, deviceId, OrtMemType.CpuOutput);
        try
        {
            using var allocator = new OrtAllocator(session, pinned);
            _pinnedOutput = pinned;
        }
        catch (OnnxRuntimeException)
        {
            pinned.Dispose();
        }
    }

    // Page-locked memory is still host memory to ONNX Runtime: it copies it in as from any host buffer.
    public override OrtMemoryInfo InputMemory => OrtMemoryInfo.DefaultInstance;

    public override OrtMemoryInfo OutputMemory => _pinnedOutput ?? OrtMemoryInfo.DefaultInstance;

    public override HostBuffer Allocate(long bytes) => new PageLocked(Math.Max(bytes, 16));

    public override void Dispose()
    {
        _pinnedOutput?.Dispose();
        base.Dispose();
    }

    private sealed class PageLocked(long bytes) : HostBuffer
    {
        public override nint Pointer { get; } = CudaRuntime.MallocHost(bytes);

        public override long Capacity => bytes;

        public override void Dispose() => CudaRuntime.FreeHost(Pointer);
    }
}
