namespace Mesh.Backend.Engine;

/// <summary>
/// Which execution provider a model runs on, and why when it is not the requested one.
/// <see cref="FallbackReason"/> is a short stable code (a metric label); <see cref="FallbackDetail"/> is the full message.
/// </summary>
public sealed record ProviderSelection(
    ExecutionProviderKind Requested, ExecutionProviderKind Active, string? FallbackReason, string? FallbackDetail)
{
    public static ProviderSelection Exactly(ExecutionProviderKind kind) => new(kind, kind, null, null);
}

/// <summary>The stable codes of <see cref="ProviderSelection.FallbackReason"/>.</summary>
public static class FallbackReasons
{
    /// <summary>The ONNX Runtime build in use has no CUDA provider.</summary>
    public const string CudaNotInBuild = "cuda_not_in_build";

    /// <summary>The CUDA runtime library (libcudart) could not be loaded.</summary>
    public const string CudaRuntimeMissing = "cuda_runtime_missing";

    /// <summary>The CUDA runtime loaded but reports no usable device.</summary>
    public const string NoCudaDevice = "no_cuda_device";

    /// <summary>The CUDA provider failed to load or to create a session (missing cuBLAS/cuDNN, driver mismatch, ...).</summary>
    public const string CudaProviderFailed = "cuda_provider_failed";
}
