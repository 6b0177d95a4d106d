namespace Mesh.Backend.Engine;

/// <summary>Device memory of a GPU, for the backend's gauges.</summary>
public static class GpuMemory
{
    /// <summary>
    /// Bytes in use on <paramref name="deviceId"/> (total less free, as the driver counts them: this backend's CUDA arena,
    /// its sessions and fixed buffers, and any other process on the device) and the device's total; null without CUDA.
    /// </summary>
    public static (long Used, long Total)? Query(int deviceId) =>
        CudaRuntime.MemoryInfo(deviceId) is { } info ? (info.Total - info.Free, info.Total) : null;
}
