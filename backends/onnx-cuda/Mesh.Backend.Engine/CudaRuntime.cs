using System.Runtime.InteropServices;

namespace Mesh.Backend.Engine;

/// <summary>
/// The few CUDA runtime calls the engine needs (device count, one stream per worker), bound at run time so a
/// machine without CUDA loads the engine and falls back instead of failing on a missing library.
/// </summary>
internal static unsafe class CudaRuntime
{
    // The ONNX Runtime 1.31 GPU package is built against CUDA 13.
    private const string Library = "libcudart.so.13";
    private const uint StreamNonBlocking = 1;

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
        var api = Loaded.Value ?? throw new InvalidOperationException($"{Library} is not loaded.");
        Check(api.SetDevice(deviceId), "cudaSetDevice");
        nint stream;
        Check(api.StreamCreateWithFlags(&stream, StreamNonBlocking), "cudaStreamCreateWithFlags");
        return stream;
    }

    public static void DestroyStream(nint stream)
    {
        if (stream != 0 && Loaded.Value is { } api)
        {
            _ = api.StreamDestroy(stream);
        }
    }

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
                (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(handle, "cudaStreamDestroy"));
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
        delegate* unmanaged<nint, int> streamDestroy)
    {
        public int GetDeviceCount(int* count) => getDeviceCount(count);

        public int SetDevice(int device) => setDevice(device);

        public int StreamCreateWithFlags(nint* stream, uint flags) => streamCreateWithFlags(stream, flags);

        public int StreamDestroy(nint stream) => streamDestroy(stream);
    }
}
