using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Mesh.Backend.Pipeline.Audio;

/// <summary>The parts of libopus's encoder API (opus.h, opus_defines.h, 1.3) the Ogg Opus encoder uses.</summary>
internal static unsafe partial class OpusNative
{
    // The soname ships in Debian's libopus0; the unversioned .so only comes with the -dev package.
    private const string Library = "libopus.so.0";

    public const int Ok = 0;
    public const int ApplicationAudio = 2049;
    public const int SetBitrateRequest = 4002;
    public const int SetSignalRequest = 4024;
    public const int GetLookaheadRequest = 4027;
    public const int SignalVoice = 3001;

    /// <summary>The largest packet libopus's documentation recommends room for.</summary>
    public const int MaxPacketBytes = 4000;

    [LibraryImport(Library, EntryPoint = "opus_encoder_create")]
    public static partial OpusEncoderHandle EncoderCreate(int sampleRate, int channels, int application, out int error);

    [LibraryImport(Library, EntryPoint = "opus_encoder_destroy")]
    public static partial void EncoderDestroy(nint encoder);

    [LibraryImport(Library, EntryPoint = "opus_encode_float")]
    public static partial int EncodeFloat(OpusEncoderHandle encoder, float* pcm, int frameSize, byte* data, int maxDataBytes);

    // opus_encoder_ctl is variadic; one int or int* after the request passes the same way as in a fixed-arity
    // call on the System V x86-64 and AArch64 Linux ABIs, so each request shape gets its own fixed overload.
    [LibraryImport(Library, EntryPoint = "opus_encoder_ctl")]
    public static partial int EncoderCtl(OpusEncoderHandle encoder, int request, int value);

    [LibraryImport(Library, EntryPoint = "opus_encoder_ctl")]
    public static partial int EncoderCtl(OpusEncoderHandle encoder, int request, out int value);

    [LibraryImport(Library, EntryPoint = "opus_get_version_string")]
    public static partial byte* GetVersionString();

    [LibraryImport(Library, EntryPoint = "opus_strerror")]
    public static partial byte* StrError(int error);

    public static string ErrorText(int error) => Marshal.PtrToStringUTF8((nint)StrError(error)) ?? error.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>An OpusEncoder*, freed with opus_encoder_destroy.</summary>
internal sealed class OpusEncoderHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public OpusEncoderHandle()
        : base(ownsHandle: true)
    {
    }

    protected override bool ReleaseHandle()
    {
        OpusNative.EncoderDestroy(handle);
        return true;
    }
}
