using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace Mesh.Backend.Engine;

/// <summary>
/// The memory a bucketed graph binds: fixed buffers its runs read and write in place ("device" buffers), and the host
/// staging buffers a worker writes inputs into and reads outputs from. Copies are queued in order with the worker's runs
/// and complete at <see cref="Synchronize"/>.
/// </summary>
internal abstract class DeviceMemory : IDisposable
{
    /// <summary>How the fixed buffers are described to ONNX Runtime.</summary>
    public abstract OrtMemoryInfo DeviceInfo { get; }

    public abstract nint AllocateDevice(long bytes);

    public abstract void FreeDevice(nint pointer);

    public abstract nint AllocateHost(long bytes);

    public abstract void FreeHost(nint pointer);

    /// <summary>
    /// One buffer both the host and the device address (Host, Device): runs read and write it in place, with no copy and
    /// no stream sync. Worth it only for tensors a kernel touches once, such as token ids in and logits out; freed with
    /// <see cref="FreeShared"/> given the host address.
    /// </summary>
    public abstract (nint Host, nint Device) AllocateShared(long bytes);

    public abstract void FreeShared(nint host);

    public abstract void CopyToDevice(nint device, nint host, long bytes);

    public abstract void CopyToHost(nint host, nint device, long bytes);

    public abstract void Zero(nint device, long bytes);

    /// <summary>Waits until every copy and run queued so far has completed.</summary>
    public abstract void Synchronize();

    public virtual void Dispose()
    {
    }
}

/// <summary>
/// CUDA provider: buffers from <c>cudaMalloc</c> (addresses a captured graph can keep), page-locked staging from
/// <c>cudaMallocHost</c>, and copies asynchronous on the worker's stream, the same stream its session computes on; shared
/// buffers are page-locked memory mapped into the device's address space (<c>cudaHostAlloc</c>, <c>cudaHostAllocMapped</c>).
/// </summary>
internal sealed class CudaDeviceMemory(int deviceId, nint stream) : DeviceMemory
{
    private readonly OrtMemoryInfo _device = new(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, deviceId, OrtMemType.Default);

    public override OrtMemoryInfo DeviceInfo => _device;

    public override nint AllocateDevice(long bytes) => CudaRuntime.Malloc(bytes);

    public override void FreeDevice(nint pointer) => CudaRuntime.Free(pointer);

    public override nint AllocateHost(long bytes) => CudaRuntime.MallocHost(bytes);

    public override void FreeHost(nint pointer) => CudaRuntime.FreeHost(pointer);

    public override (nint Host, nint Device) AllocateShared(long bytes) => CudaRuntime.MallocMapped(bytes);

    public override void FreeShared(nint host) => CudaRuntime.FreeHost(host);

    public override void CopyToDevice(nint device, nint host, long bytes) =>
        CudaRuntime.CopyAsync(device, host, bytes, CudaRuntime.CopyKind.HostToDevice, stream);

    public override void CopyToHost(nint host, nint device, long bytes) =>
        CudaRuntime.CopyAsync(host, device, bytes, CudaRuntime.CopyKind.DeviceToHost, stream);

    public override void Zero(nint device, long bytes) => CudaRuntime.ZeroAsync(device, bytes, stream);

    public override void Synchronize() => CudaRuntime.Synchronize(stream);

    public override void Dispose()
    {
        _device.Dispose();
        base.Dispose();
    }
}

/// <summary>
/// CPU provider: the "device" is host memory, so bucketing, padding, trimming and the recurrent ping-pong run the same
/// code on a machine without a GPU; only graph capture is CUDA's.
/// </summary>
internal sealed unsafe class HostDeviceMemory : DeviceMemory
{
    // ONNX Runtime's CPU kernels expect their tensors aligned as its own allocator aligns them.
    private const nuint Alignment = 64;

    public override OrtMemoryInfo DeviceInfo => OrtMemoryInfo.DefaultInstance;

    public override nint AllocateDevice(long bytes) => AllocateHost(bytes);

    public override void FreeDevice(nint pointer) => FreeHost(pointer);

    public override nint AllocateHost(long bytes) => (nint)NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 1), Alignment);

    public override void FreeHost(nint pointer) => NativeMemory.AlignedFree((void*)pointer);

    public override (nint Host, nint Device) AllocateShared(long bytes)
    {
        var pointer = AllocateHost(bytes);
        return (pointer, pointer);
    }

    public override void FreeShared(nint host) => FreeHost(host);

    public override void CopyToDevice(nint device, nint host, long bytes) => Buffer.MemoryCopy((void*)host, (void*)device, bytes, bytes);

    public override void CopyToHost(nint host, nint device, long bytes) => Buffer.MemoryCopy((void*)device, (void*)host, bytes, bytes);

    public override void Zero(nint device, long bytes) => NativeMemory.Clear((void*)device, (nuint)bytes);

    public override void Synchronize()
    {
    }
}
