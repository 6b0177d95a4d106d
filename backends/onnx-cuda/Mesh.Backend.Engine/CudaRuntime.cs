using System.Runtime.InteropServices;

namespace Mesh.Backend.Engine;

/// <summary>
/// The few CUDA runtime calls the engine needs (device count, one stream per worker, the fixed device buffers and pinned
/// staging of captured graphs with asynchronous copies on the worker's stream, mapped pinned memory for small tensors),
/// bound at run time so a machine without CUDA loads the engine and falls back instead of failing on a missing library.
/// </summary>
internal static unsafe class CudaRuntime
{
    // The ONNX Runtime 1.31 GPU package is built against CUDA 13.
    private const string Library = "libcudart.so.13";
    private const uint StreamNonBlocking = 1;
    private const uint HostAllocMapped = 2;

    private static readonly Lazy<Api?> Loaded = new(Load);

    /// <summary>Null when usable; otherwise the reason code and a message.</summary>
    public static (string Reason, string Detail)? Probe(int deviceId)
    {
        if (Loaded.Value is not { } api)
        {
            return (FallbackReasons.CudaRuntimeMissing, $"{Library} could not be loaded (is the CUDA 13 runtime installed and on the loader path?).");
        }

        int count;
        var status = api.GetDeviceCount(&count);
        if (status != 0)
        {
            return (FallbackReasons.NoCudaDevice, $"cudaGetDeviceCount failed with CUDA error {status} (no GPU, or the driver is too old).");
        }

        if (deviceId >= count)
        {
            return (FallbackReasons.NoCudaDevice, $"CUDA device {deviceId} requested but {count} device(s) are visible.");
        }

        return null;
    }

    /// <summary>A non-blocking stream on <paramref name="deviceId"/>; its handle goes to ONNX Runtime as <c>user_compute_stream</c>.</summary>
    public static nint CreateStream(int deviceId)
    {
        Check(Native.SetDevice(deviceId), "cudaSetDevice");
        nint stream;
        Check(Native.StreamCreateWithFlags(&stream, StreamNonBlocking), "cudaStreamCreateWithFlags");
        return stream;
    }

    public static void DestroyStream(nint stream)
    {
        if (stream != 0 && Loaded.Value is { } api)
        {
            _ = api.StreamDestroy(stream);
        }
    }

    /// <summary><c>cudaMemcpyKind</c>.</summary>
    public enum CopyKind
    {
        HostToDevice = 1,
        DeviceToHost = 2,
    }

    public static nint Malloc(long bytes)
    {
        nint pointer;
        Check(Native.Malloc(&pointer, (nuint)bytes), "cudaMalloc");
        return pointer;
    }

    public static void Free(nint pointer) => _ = Native.Free(pointer);

    /// <summary>Page-locked host memory: copies from and to it run asynchronously at full bandwidth.</summary>
    public static nint MallocHost(long bytes)
    {
        nint pointer;
        Check(Native.MallocHost(&pointer, (nuint)bytes), "cudaMallocHost");
        return pointer;
    }

    public static void FreeHost(nint pointer) => _ = Native.FreeHost(pointer);

    /// <summary>Page-locked host memory mapped into the device's address space: kernels read and write it in place.</summary>
    public static (nint Host, nint Device) MallocMapped(long bytes)
    {
        nint host;
        Check(Native.HostAlloc(&host, (nuint)bytes, HostAllocMapped), "cudaHostAlloc");
        nint device;
        var status = Native.HostGetDevicePointer(&device, host, 0);
        if (status != 0)
        {
            _ = Native.FreeHost(host);
            Check(status, "cudaHostGetDevicePointer");
        }

        return (host, device);
    }

    public static void CopyAsync(nint destination, nint source, long bytes, CopyKind kind, nint stream) =>
        Check(Native.MemcpyAsync(destination, source, (nuint)bytes, (int)kind, stream), "cudaMemcpyAsync");

    public static void ZeroAsync(nint destination, long bytes, nint stream) =>
        Check(Native.MemsetAsync(destination, 0, (nuint)bytes, stream), "cudaMemsetAsync");

    /// <summary>
    /// Free and total memory of <paramref name="deviceId"/> as the driver counts it (every process's allocations);
    /// null without a usable CUDA runtime or device.
    /// </summary>
    public static (long Free, long Total)? MemoryInfo(int deviceId)
    {
        if (Loaded.Value is not { } api || api.SetDevice(deviceId) != 0)
        {
            return null;
        }

        nuint free, total;
        return api.MemGetInfo(&free, &total) == 0 ? ((long)free, (long)total) : null;
    }

    public static void Synchronize(nint stream) => Check(Native.StreamSynchronize(stream), "cudaStreamSynchronize");

    private static Api Native => Loaded.Value ?? throw new InvalidOperationException($"{Library} is not loaded.");

    private static void Check(int status, string call)
    {
        if (status != 0)
        {
            throw new InvalidOperationException($"{call} failed with CUDA error {status}.");
        }
    }

    private static Api? Load()
    {
        if (!NativeLibrary.TryLoad(Library, out var handle))
        {
            return null;
        }

        try
        {
            return new Api(
                (delegate* unmanaged<int*, int>)NativeLibrary.GetExport(handle, "cudaGetDeviceCount"),
                (delegate* unmanaged<int, int>)NativeLibrary.GetExport(handle, "cudaSetDevice"),
                (delegate* unmanaged<nint*, uint, int>)NativeLibrary.GetExport(handle, "cudaStreamCreateWithFlags"),
                (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(handle, "cudaStreamDestroy"),
                (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(handle, "cudaStreamSynchronize"),
                (delegate* unmanaged<nint*, nuint, int>)NativeLibrary.GetExport(handle, "cudaMalloc"),
                (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(handle, "cudaFree"),
                (delegate* unmanaged<nint*, nuint, int>)NativeLibrary.GetExport(handle, "cudaMallocHost"),
                (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(handle, "cudaFreeHost"),
                (delegate* unmanaged<nint*, nuint, uint, int>)NativeLibrary.GetExport(handle, "cudaHostAlloc"),
                (delegate* unmanaged<nint*, nint, uint, int>)NativeLibrary.GetExport(handle, "cudaHostGetDevicePointer"),
                (delegate* unmanaged<nint, nint, nuint, int, nint, int>)NativeLibrary.GetExport(handle, "cudaMemcpyAsync"),
                (delegate* unmanaged<nint, int, nuint, nint, int>)NativeLibrary.GetExport(handle, "cudaMemsetAsync"),
                (delegate* unmanaged<nuint*, nuint*, int>)NativeLibrary.GetExport(handle, "cudaMemGetInfo"));
        }
        catch (EntryPointNotFoundException)
        {
            return null;
        }
    }

    private sealed class Api(
        delegate* unmanaged<int*, int> getDeviceCount,
        delegate* unmanaged<int, int> setDevice,
        delegate* unmanaged<nint*, uint, int> streamCreateWithFlags,
        delegate* unmanaged<nint, int> streamDestroy,
        delegate* unmanaged<nint, int> streamSynchronize,
        delegate* unmanaged<nint*, nuint, int> malloc,
        delegate* unmanaged<nint, int> free,
        delegate* unmanaged<nint*, nuint, int> mallocHost,
        delegate* unmanaged<nint, int> freeHost,
        delegate* unmanaged<nint*, nuint, uint, int> hostAlloc,
        delegate* unmanaged<nint*, nint, uint, int> hostGetDevicePointer,
        delegate* unmanaged<nint, nint, nuint, int, nint, int> memcpyAsync,
        delegate* unmanaged<nint, int, nuint, nint, int> memsetAsync,
        delegate* unmanaged<nuint*, nuint*, int> memGetInfo)
    {
        public int GetDeviceCount(int* count) => getDeviceCount(count);

        public int SetDevice(int device) => setDevice(device);

        public int StreamCreateWithFlags(nint* stream, uint flags) => streamCreateWithFlags(stream, flags);

        public int StreamDestroy(nint stream) => streamDestroy(stream);

        public int StreamSynchronize(nint stream) => streamSynchronize(stream);

        public int Malloc(nint* pointer, nuint bytes) => malloc(pointer, bytes);

        public int Free(nint pointer) => free(pointer);

        public int MallocHost(nint* pointer, nuint bytes) => mallocHost(pointer, bytes);

        public int FreeHost(nint pointer) => freeHost(pointer);

        public int HostAlloc(nint* pointer, nuint bytes, uint flags) => hostAlloc(pointer, bytes, flags);

        public int MemGetInfo(nuint* free, nuint* total) => memGetInfo(free, total);

        public int HostGetDevicePointer(nint* device, nint host, uint flags) => hostGetDevicePointer(device, host, flags);

        public int MemcpyAsync(nint destination, nint source, nuint bytes, int kind, nint stream) => memcpyAsync(destination, source, bytes, kind, stream);

        public int MemsetAsync(nint destination, int value, nuint bytes, nint stream) => memsetAsync(destination, value, bytes, stream);
    }
}
