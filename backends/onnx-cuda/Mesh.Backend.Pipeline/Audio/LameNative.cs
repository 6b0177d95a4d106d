using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Mesh.Backend.Pipeline.Audio;

/// <summary>The parts of libmp3lame's C API (lame.h, 3.100) the MP3 encoder uses.</summary>
internal static unsafe partial class LameNative
{
    // The soname ships in Debian's libmp3lame0; the unversioned .so only comes with the -dev package.
    private const string Library = "libmp3lame.so.0";

    public const int ModeMono = 3;

    [LibraryImport(Library, EntryPoint = "lame_init")]
    public static partial LameHandle Init();

    [LibraryImport(Library, EntryPoint = "lame_set_in_samplerate")]
    public static partial int SetInSampleRate(LameHandle lame, int value);

    [LibraryImport(Library, EntryPoint = "lame_set_out_samplerate")]
    public static partial int SetOutSampleRate(LameHandle lame, int value);

    [LibraryImport(Library, EntryPoint = "lame_set_num_channels")]
    public static partial int SetNumChannels(LameHandle lame, int value);

    [LibraryImport(Library, EntryPoint = "lame_set_mode")]
    public static partial int SetMode(LameHandle lame, int mode);

    [LibraryImport(Library, EntryPoint = "lame_set_brate")]
    public static partial int SetBitrate(LameHandle lame, int kbps);

    [LibraryImport(Library, EntryPoint = "lame_set_quality")]
    public static partial int SetQuality(LameHandle lame, int quality);

    [LibraryImport(Library, EntryPoint = "lame_set_bWriteVbrTag")]
    public static partial int SetWriteVbrTag(LameHandle lame, int value);

    [LibraryImport(Library, EntryPoint = "lame_init_params")]
    public static partial int InitParams(LameHandle lame);

    [LibraryImport(Library, EntryPoint = "lame_get_encoder_delay")]
    public static partial int GetEncoderDelay(LameHandle lame);

    [LibraryImport(Library, EntryPoint = "lame_get_framesize")]
    public static partial int GetFrameSize(LameHandle lame);

    [LibraryImport(Library, EntryPoint = "lame_encode_buffer_ieee_float")]
    public static partial int EncodeBufferIeeeFloat(LameHandle lame, float* left, float* right, int samples, byte* mp3, int mp3Size);

    [LibraryImport(Library, EntryPoint = "lame_encode_flush")]
    public static partial int EncodeFlush(LameHandle lame, byte* mp3, int size);

    /// <summary>LAME's name and version as its Info tag states them (<c>LAME3.100</c>), a static string.</summary>
    [LibraryImport(Library, EntryPoint = "get_lame_very_short_version")]
    public static partial nint VeryShortVersion();

    [LibraryImport(Library, EntryPoint = "lame_close")]
    public static partial int Close(nint lame);

    /// <summary>Worst case output for <paramref name="samples"/> input samples, as lame.h gives it.</summary>
    public static int MaxOutputBytes(int samples) => checked((samples * 5 / 4) + 7200);
}

/// <summary>A lame_t, closed with lame_close.</summary>
internal sealed class LameHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public LameHandle()
        : base(ownsHandle: true)
    {
    }

    protected override bool ReleaseHandle() => LameNative.Close(handle) == 0;
}
