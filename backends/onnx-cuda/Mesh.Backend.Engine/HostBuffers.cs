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
/// CUDA provider: page-locked host memory from the session's CudaPinned allocator, so the host-to-device copies at
/// bind time and the device-to-host copies of outputs run at full bandwidth.
/// </summary>
internal sealed class CudaPinnedSource : HostBufferSource
{
    private readonly OrtMemoryInfo _pinned;
    private readonly OrtAllocator _allocator;

    public CudaPinnedSource(InferenceSession session, int deviceId)
    {
        _pinned = new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA_PINNED, OrtAllocatorType.DeviceAllocator, deviceId, OrtMemType.CpuOutput);
        _allocator = new OrtAllocator(session, _pinned);
    }

    public override OrtMemoryInfo InputMemory => _pinned;

    public override OrtMemoryInfo OutputMemory => _pinned;

    public override HostBuffer Allocate(long bytes) => new PinnedAllocation(_allocator.Allocate(checked((uint)Math.Max(bytes, 16))));

    public override void Dispose()
    {
        _allocator.Dispose();
        _pinned.Dispose();
        base.Dispose();
    }

    private sealed class PinnedAllocation(OrtMemoryAllocation allocation) : HostBuffer
    {
        // The handle of an allocation is the address of its memory.
        public override nint Pointer => allocation.DangerousGetHandle();

        public override long Capacity => (long)allocation.Size;

        public override void Dispose() => allocation.Dispose();
    }
}
