using System.Buffers;
using Mesh.Contracts;

namespace Mesh.Backend.Pipeline.Audio;

/// <summary>
/// Mono constant-bitrate MP3 through libmp3lame, at the input rate (8 to 48 kHz).
/// </summary>
/// <remarks>
/// The stream opens with an Info tag (<see cref="Mp3InfoTag"/>) stating LAME's encoder delay, which decoders that read
/// it skip, as they skip the tag's own frame. The rest of a full tag describes the end (frame count, padding), which a
/// stream cannot go back and write, so the rest of the last frame still plays after the audio: LAME ends the stream at
/// the first frame boundary at least 576 samples past the audio, and the decoder skips 529 of them with its own delay,
/// which leaves from 47 samples to <see cref="FrameSamples"/> and 46, as the audio ends in its frame, however it was fed.
/// </remarks>
public sealed unsafe class Mp3Encoder : InProcessAudioEncoder
{
    // Mono speech at LAME's "-q 2" (its recommended high quality) costs well under a percent of a core.
    private const int Quality = 2;

    private readonly LameHandle _lame;
    private readonly byte[] _infoTag;
    private bool _finished;

    public Mp3Encoder(int sampleRate)
    {
        _lame = LameNative.Init();
        if (_lame.IsInvalid)
        {
            throw new InvalidOperationException("lame_init failed.");
        }

        try
        {
            // Without an explicit output rate LAME picks one from the bitrate and may resample.
            var configured = LameNative.SetInSampleRate(_lame, sampleRate) == 0
                & LameNative.SetOutSampleRate(_lame, sampleRate) == 0
                & LameNative.SetNumChannels(_lame, 1) == 0
                & LameNative.SetMode(_lame, LameNative.ModeMono) == 0
                & LameNative.SetBitrate(_lame, BitrateKbps(sampleRate)) == 0
                & LameNative.SetQuality(_lame, Quality) == 0
                & LameNative.SetWriteVbrTag(_lame, 0) == 0;
            if (!configured || LameNative.InitParams(_lame) < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(sampleRate), sampleRate, "LAME cannot encode MP3 at this sample rate.");
            }

            _infoTag = Mp3InfoTag.Frame(sampleRate, BitrateKbps(sampleRate), LameNative.GetEncoderDelay(_lame));
            FrameSamples = LameNative.GetFrameSize(_lame);
        }
        catch
        {
            _lame.Dispose();
            throw;
        }
    }

    public override string ContentType => AudioFormats.ContentType(AudioFormats.Mp3);

    /// <summary>Samples per frame: 1152 for MPEG-1, 576 below 32 kHz. The last frame is padded with silence.</summary>
    public int FrameSamples { get; }

    /// <summary>Bitrate for mono speech: MPEG-1 (32 kHz and up) at 96 kbit/s, MPEG-2 at 64, MPEG-2.5 (below 16 kHz) at 32.</summary>
    public static int BitrateKbps(int sampleRate) => sampleRate switch
    {
        >= 32000 => 96,
        >= 16000 => 64,
        _ => 32,
    };

    public override ReadOnlyMemory<byte> Begin() => _infoTag;

    protected override ReadOnlyMemory<byte> Encode(ReadOnlySpan<float> samples)
    {
        ObjectDisposedException.ThrowIf(_lame.IsClosed, this);
        if (_finished)
        {
            throw new InvalidOperationException("The MP3 stream is finished.");
        }

        if (samples.IsEmpty)
        {
            return ReadOnlyMemory<byte>.Empty;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(LameNative.MaxOutputBytes(samples.Length));
        try
        {
            int written;
            fixed (float* pcm = samples)
            fixed (byte* mp3 = buffer)
            {
                // Mono reads only the left channel; passing it twice keeps LAME away from a null right one.
                written = LameNative.EncodeBufferIeeeFloat(_lame, pcm, pcm, samples.Length, mp3, buffer.Length);
            }

            return Result(buffer, written, "lame_encode_buffer_ieee_float");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    protected override ReadOnlyMemory<byte> Finish()
    {
        ObjectDisposedException.ThrowIf(_lame.IsClosed, this);
        if (_finished)
        {
            throw new InvalidOperationException("The MP3 stream is finished.");
        }

        _finished = true;
        var buffer = new byte[LameNative.MaxOutputBytes(0)];
        int written;
        fixed (byte* mp3 = buffer)
        {
            written = LameNative.EncodeFlush(_lame, mp3, buffer.Length);
        }

        return Result(buffer, written, "lame_encode_flush");
    }

    public override void Dispose() => _lame.Dispose();

    private static ReadOnlyMemory<byte> Result(byte[] buffer, int written, string call) => written switch
    {
        < 0 => throw new InvalidOperationException($"{call} failed with {written}."),
        0 => ReadOnlyMemory<byte>.Empty,
        _ => buffer.AsSpan(0, written).ToArray(),
    };
}
