using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Mesh.Backend.Pipeline.Audio;

/// <summary>The parts of libFLAC's stream encoder API (FLAC/stream_encoder.h, 1.4) the FLAC encoder uses.</summary>
internal static unsafe partial class FlacNative
{
    // The soname ships in Debian's libflac12; the unversioned .so only comes with the -dev package.
    private const string Library = "libFLAC.so.12";

    public const int InitStatusOk = 0;
    public const int WriteStatusOk = 0;
    public const int WriteStatusFatalError = 1;
    public const int SeekStatusOk = 0;
    public const int SeekStatusError = 1;
    public const int TellStatusOk = 0;
    public const int TellStatusError = 1;

    [LibraryImport(Library, EntryPoint = "FLAC__stream_encoder_new")]
    public static partial FlacEncoderHandle New();

    [LibraryImport(Library, EntryPoint = "FLAC__stream_encoder_delete")]
    public static partial void Delete(nint encoder);

    // FLAC__bool is a C int: non-zero is true.
    [LibraryImport(Library, EntryPoint = "FLAC__stream_encoder_set_channels")]
    public static partial int SetChannels(FlacEncoderHandle encoder, uint value);

    [LibraryImport(Library, EntryPoint = "FLAC__stream_encoder_set_bits_per_sample")]
    public static partial int SetBitsPerSample(FlacEncoderHandle encoder, uint value);

    [LibraryImport(Library, EntryPoint = "FLAC__stream_encoder_set_sample_rate")]
    public static partial int SetSampleRate(FlacEncoderHandle encoder, uint value);

    [LibraryImport(Library, EntryPoint = "FLAC__stream_encoder_set_compression_level")]
    public static partial int SetCompressionLevel(FlacEncoderHandle encoder, uint value);

    [LibraryImport(Library, EntryPoint = "FLAC__stream_encoder_set_blocksize")]
    public static partial int SetBlocksize(FlacEncoderHandle encoder, uint value);

    [LibraryImport(Library, EntryPoint = "FLAC__stream_encoder_set_do_md5")]
    public static partial int SetDoMd5(FlacEncoderHandle encoder, int value);

    [LibraryImport(Library, EntryPoint = "FLAC__stream_encoder_init_stream")]
    public static partial int InitStream(
        FlacEncoderHandle encoder,
        delegate* unmanaged[Cdecl]<nint, byte*, nuint, uint, uint, nint, int> write,
        delegate* unmanaged[Cdecl]<nint, ulong, nint, int> seek,
        delegate* unmanaged[Cdecl]<nint, ulong*, nint, int> tell,
        nint metadata,
        nint clientData);

    [LibraryImport(Library, EntryPoint = "FLAC__stream_encoder_process_interleaved")]
    public static partial int ProcessInterleaved(FlacEncoderHandle encoder, int* buffer, uint samples);

    [LibraryImport(Library, EntryPoint = "FLAC__stream_encoder_finish")]
    public static partial int Finish(FlacEncoderHandle encoder);

    [LibraryImport(Library, EntryPoint = "FLAC__stream_encoder_get_state")]
    public static partial int GetState(FlacEncoderHandle encoder);
}

/// <summary>A FLAC__StreamEncoder*, freed with FLAC__stream_encoder_delete (which does not call back into the writer).</summary>
internal sealed class FlacEncoderHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public FlacEncoderHandle()
        : base(ownsHandle: true)
    {
    }

    protected override bool ReleaseHandle()
    {
        FlacNative.Delete(handle);
        return true;
    }
}
