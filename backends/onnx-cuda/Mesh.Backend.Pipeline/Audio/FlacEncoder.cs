using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Mesh.Contracts;

namespace Mesh.Backend.Pipeline.Audio;

/// <summary>
/// Mono 16-bit FLAC through libFLAC's stream encoder. Whole, it is written to memory and handed out by
/// <see cref="Finish"/>: libFLAC seeks back at the end to fill STREAMINFO with the total samples, frame sizes and MD5,
/// so players and tools know the duration. Streamed, each call hands out the frames it completed, and STREAMINFO
/// says what FLAC allows a stream to leave unknown: the total samples, frame sizes and MD5 (decoders read to the end).
/// </summary>
public sealed unsafe class FlacEncoder : InProcessAudioEncoder
{
    // libFLAC's default level: most of the compression of higher levels at a fraction of their time.
    private const uint CompressionLevel = 5;

    private readonly FlacEncoderHandle _encoder;
    private readonly bool _streamed;
    private readonly MemoryStream _output = new();
    private GCHandle _outputHandle;
    private bool _begun;
    private bool _finished;

    public FlacEncoder(int sampleRate, bool streamed = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sampleRate);
        _streamed = streamed;
        _encoder = FlacNative.New();
        if (_encoder.IsInvalid)
        {
            throw new InvalidOperationException("FLAC__stream_encoder_new failed.");
        }

        // The level sets a block size too, so the block size comes after it.
        var configured = FlacNative.SetChannels(_encoder, 1) != 0
            & FlacNative.SetBitsPerSample(_encoder, 16) != 0
            & FlacNative.SetSampleRate(_encoder, (uint)sampleRate) != 0
            & FlacNative.SetCompressionLevel(_encoder, CompressionLevel) != 0
            & FlacNative.SetBlocksize(_encoder, BlockSize(sampleRate)) != 0
            & FlacNative.SetDoMd5(_encoder, streamed ? 0 : 1) != 0;
        if (!configured)
        {
            _encoder.Dispose();
            throw new InvalidOperationException("libFLAC rejected the encoder settings.");
        }
    }

    public override string ContentType => AudioFormats.ContentType(AudioFormats.Flac);

    /// <summary>
    /// Samples per frame: a chunk's last partial block waits in the encoder for the next chunk, so blocks stay near
    /// 50 ms rather than the level's 4096 samples (half a second at 8 kHz).
    /// </summary>
    public static uint BlockSize(int sampleRate) => sampleRate <= 24000 ? 1152u : 2304u;

    public override ReadOnlyMemory<byte> Begin()
    {
        ObjectDisposedException.ThrowIf(_encoder.IsClosed, this);
        if (_begun)
        {
            throw new InvalidOperationException("The FLAC stream has begun already.");
        }

        _begun = true;
        _outputHandle = GCHandle.Alloc(_output);
        // Without a seek callback libFLAC leaves STREAMINFO as it wrote it first, with the unknowns unknown.
        var status = _streamed
            ? FlacNative.InitStream(_encoder, &Write, null, null, 0, GCHandle.ToIntPtr(_outputHandle))
            : FlacNative.InitStream(_encoder, &Write, &Seek, &Tell, 0, GCHandle.ToIntPtr(_outputHandle));
        if (status != FlacNative.InitStatusOk)
        {
            throw new InvalidOperationException($"FLAC__stream_encoder_init_stream failed with status {status}.");
        }

        // "fLaC" and the first STREAMINFO are in memory now; a whole file's is rewritten when the stream ends.
        return StreamedOutput();
    }

    protected override ReadOnlyMemory<byte> Encode(ReadOnlySpan<float> samples)
    {
        EnsureStreaming();
        if (samples.IsEmpty)
        {
            return ReadOnlyMemory<byte>.Empty;
        }

        var pcm = ArrayPool<int>.Shared.Rent(samples.Length);
        try
        {
            for (var i = 0; i < samples.Length; i++)
            {
                pcm[i] = PcmEncoder.ToInt16(samples[i]);
            }

            fixed (int* buffer = pcm)
            {
                if (FlacNative.ProcessInterleaved(_encoder, buffer, (uint)samples.Length) == 0)
                {
                    throw new InvalidOperationException($"FLAC__stream_encoder_process_interleaved failed in state {FlacNative.GetState(_encoder)}.");
                }
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(pcm);
        }

        return StreamedOutput();
    }

    protected override ReadOnlyMemory<byte> Finish()
    {
        EnsureStreaming();
        _finished = true;
        if (FlacNative.Finish(_encoder) == 0)
        {
            throw new InvalidOperationException($"FLAC__stream_encoder_finish failed in state {FlacNative.GetState(_encoder)}.");
        }

        return _output.ToArray();
    }

    /// <summary>Streamed, the bytes written since the last call; whole, nothing until the end.</summary>
    private ReadOnlyMemory<byte> StreamedOutput()
    {
        if (!_streamed || _output.Length == 0)
        {
            return ReadOnlyMemory<byte>.Empty;
        }

        var bytes = _output.ToArray();
        _output.SetLength(0);
        return bytes;
    }

    public override void Dispose()
    {
        // The encoder goes first: until it is deleted, libFLAC may still call back with the handle.
        _encoder.Dispose();
        if (_outputHandle.IsAllocated)
        {
            _outputHandle.Free();
        }

        _output.Dispose();
    }

    private void EnsureStreaming()
    {
        ObjectDisposedException.ThrowIf(_encoder.IsClosed, this);
        if (!_begun || _finished)
        {
            throw new InvalidOperationException(_finished ? "The FLAC stream is finished." : "Begin the FLAC stream first.");
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Write(nint encoder, byte* buffer, nuint bytes, uint samples, uint currentFrame, nint clientData)
    {
        // An exception must not unwind into libFLAC; a fatal status makes the calling function fail instead.
        try
        {
            Output(clientData).Write(new ReadOnlySpan<byte>(buffer, checked((int)bytes)));
            return FlacNative.WriteStatusOk;
        }
        catch (Exception ex) when (ex is OverflowException or InvalidCastException or OutOfMemoryException or IOException)
        {
            return FlacNative.WriteStatusFatalError;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Seek(nint encoder, ulong offset, nint clientData)
    {
        try
        {
            Output(clientData).Position = checked((long)offset);
            return FlacNative.SeekStatusOk;
        }
        catch (Exception ex) when (ex is OverflowException or InvalidCastException or ArgumentException or IOException)
        {
            return FlacNative.SeekStatusError;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Tell(nint encoder, ulong* offset, nint clientData)
    {
        try
        {
            *offset = (ulong)Output(clientData).Position;
            return FlacNative.TellStatusOk;
        }
        catch (InvalidCastException)
        {
            return FlacNative.TellStatusError;
        }
    }

    private static MemoryStream Output(nint clientData) => (MemoryStream)GCHandle.FromIntPtr(clientData).Target!;
}
