using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Mesh.Backend.Pipeline.Audio;

/// <summary>The parts of libsoxr's C API (soxr.h, 0.1.x) the streaming resampler uses.</summary>
internal static unsafe partial class SoxrNative
{
    // The soname ships in Debian's libsoxr0; the unversioned .so only comes with the -dev package.
    private const string Library = "libsoxr.so.0";

    /// <summary>soxr_datatype_t: SOXR_FLOAT32_I, interleaved float32 (mono here, so interleaving is moot).</summary>
    public const int Float32Interleaved = 0;

    /// <summary>SOXR_28_BITQ ("very high quality", SoX's <c>rate -v</c>): 28-bit precision, at most 0.01 dB rolloff.</summary>
    public const uint VeryHighQuality = 6;

    [LibraryImport(Library, EntryPoint = "soxr_create")]
    public static partial SoxrHandle Create(
        double inputRate, double outputRate, uint channels, byte** error, IoSpec* ioSpec, QualitySpec* qualitySpec, nint runtimeSpec);

    /// <summary>Returns NULL on success, otherwise a static error string. <paramref name="input"/> NULL means end of input.</summary>
    [LibraryImport(Library, EntryPoint = "soxr_process")]
    public static partial byte* Process(
        SoxrHandle resampler, float* input, nuint inputLength, nuint* inputDone, float* output, nuint outputLength, nuint* outputDone);

    [LibraryImport(Library, EntryPoint = "soxr_delete")]
    public static partial void Delete(nint resampler);

    [LibraryImport(Library, EntryPoint = "soxr_io_spec")]
    public static partial IoSpec IoSpecFor(int inputType, int outputType);

    [LibraryImport(Library, EntryPoint = "soxr_quality_spec")]
    public static partial QualitySpec QualitySpecFor(CULong recipe, CULong flags);

    /// <summary>The message behind a non-NULL soxr_error_t.</summary>
    public static string ErrorText(byte* error) => Marshal.PtrToStringUTF8((nint)error) ?? "unknown soxr error";

    /// <summary>soxr_io_spec_t (32 bytes on LP64): the two 4-byte enums leave the double 8-byte aligned without padding.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct IoSpec
    {
        public int InputType;
        public int OutputType;
        public double Scale;
        public nint Reserved;
        public CULong Flags;
    }

    /// <summary>soxr_quality_spec_t (48 bytes on LP64). <c>unsigned long</c> is <see cref="CULong"/>: 32 bits on Windows.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct QualitySpec
    {
        public double Precision;
        public double PhaseResponse;
        public double PassbandEnd;
        public double StopbandBegin;
        public nint Reserved;
        public CULong Flags;
    }
}

/// <summary>Owns one soxr_t, so a resampler that is never disposed still frees its native state.</summary>
internal sealed class SoxrHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public SoxrHandle()
        : base(ownsHandle: true)
    {
    }

    protected override bool ReleaseHandle()
    {
        SoxrNative.Delete(handle);
        return true;
    }
}
