using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Mesh.Contracts;

namespace Mesh.Backend.Pipeline.Audio;

/// <summary>
/// Mono Ogg Opus (RFC 7845) through libopus, in 20 ms packets, with its own Ogg pages: each Encode call that
/// completes a packet returns one page, so audio streams out every 20 ms of input.
/// </summary>
/// <remarks>
/// Opus codes only 8, 12, 16, 24 and 48 kHz. This encoder takes those rates and no others: the pipeline resamples
/// other rates (22.05 and 44.1 kHz) to the one <see cref="AudioEncoders.EncodingSampleRate"/> names, once, with
/// the rest of its resampling, rather than hiding a second resampler in here.
/// </remarks>
public sealed unsafe class OggOpusEncoder : InProcessAudioEncoder
{
    public static readonly IReadOnlyList<int> SampleRates = [8000, 12000, 16000, 24000, 48000];

    /// <summary>Ogg Opus counts granule positions and pre-skip at 48 kHz whatever the coded rate.</summary>
    public const int GranuleRate = 48000;

    private const int FramesPerSecond = 50;

    // Transparent for mono speech at every Opus bandwidth.
    private const int Bitrate = 32000;

    private readonly OpusEncoderHandle _encoder;
    private readonly PendingBytes _output = new();
    private readonly OggPageWriter _ogg;
    private readonly int _sampleRate;
    private readonly int _granulePerSample;
    private readonly float[] _frame;
    private readonly byte[] _packet = new byte[OpusNative.MaxPacketBytes];
    private int _filled;
    private long _inputSamples;
    private long _encodedGranule;
    private bool _begun;
    private bool _finished;

    public OggOpusEncoder(int sampleRate)
    {
        if (!SampleRates.Contains(sampleRate))
        {
            throw new ArgumentOutOfRangeException(
                nameof(sampleRate), sampleRate, "Opus codes 8, 12, 16, 24 or 48 kHz only; resample to AudioEncoders.EncodingSampleRate first.");
        }

        _sampleRate = sampleRate;
        _granulePerSample = GranuleRate / sampleRate;
        _frame = new float[sampleRate / FramesPerSecond];
        _encoder = OpusNative.EncoderCreate(sampleRate, 1, OpusNative.ApplicationAudio, out var error);
        if (error != OpusNative.Ok || _encoder.IsInvalid)
        {
            _encoder.Dispose();
            throw new InvalidOperationException($"opus_encoder_create failed: {OpusNative.ErrorText(error)}.");
        }

        try
        {
            Check(OpusNative.EncoderCtl(_encoder, OpusNative.SetBitrateRequest, Bitrate), "OPUS_SET_BITRATE");
            Check(OpusNative.EncoderCtl(_encoder, OpusNative.SetSignalRequest, OpusNative.SignalVoice), "OPUS_SET_SIGNAL");
            Check(OpusNative.EncoderCtl(_encoder, OpusNative.GetLookaheadRequest, out int lookahead), "OPUS_GET_LOOKAHEAD");
            PreSkip = lookahead * _granulePerSample;
        }
        catch
        {
            _encoder.Dispose();
            throw;
        }

        _ogg = new OggPageWriter((uint)Random.Shared.Next(), _output);
    }

    public override string ContentType => AudioFormats.ContentType(AudioFormats.Opus);

    /// <summary>48 kHz samples the decoder drops at the start: the encoder's lookahead.</summary>
    public int PreSkip { get; }

    public override ReadOnlyMemory<byte> Begin()
    {
        ObjectDisposedException.ThrowIf(_encoder.IsClosed, this);
        if (_begun)
        {
            throw new InvalidOperationException("The Opus stream has begun already.");
        }

        _begun = true;
        // Each header packet gets a page of its own, as RFC 7845 requires.
        _ogg.Add(IdentificationHeader(), 0);
        _ogg.Flush();
        _ogg.Add(CommentHeader(), 0);
        _ogg.Flush();
        return _output.Take();
    }

    protected override ReadOnlyMemory<byte> Encode(ReadOnlySpan<float> samples)
    {
        EnsureStreaming();
        _inputSamples += samples.Length;
        while (!samples.IsEmpty)
        {
            var count = Math.Min(samples.Length, _frame.Length - _filled);
            samples[..count].CopyTo(_frame.AsSpan(_filled));
            _filled += count;
            samples = samples[count..];
            if (_filled == _frame.Length)
            {
                EncodeFrame(long.MaxValue);
            }
        }

        _ogg.Flush();
        return _output.Take();
    }

    protected override ReadOnlyMemory<byte> Finish()
    {
        EnsureStreaming();
        _finished = true;

        // The decoder drops PreSkip samples, so the packets must reach that far past the input; the last page's
        // granule position then trims the zero padding of the final packet.
        var end = PreSkip + (_inputSamples * _granulePerSample);
        while (_encodedGranule < end)
        {
            _frame.AsSpan(_filled).Clear();
            EncodeFrame(end);
        }

        _ogg.End();
        return _output.Take();
    }

    public override void Dispose() => _encoder.Dispose();

    private void EncodeFrame(long endGranule)
    {
        int length;
        fixed (float* pcm = _frame)
        fixed (byte* packet = _packet)
        {
            length = OpusNative.EncodeFloat(_encoder, pcm, _frame.Length, packet, _packet.Length);
        }

        if (length < 0)
        {
            throw new InvalidOperationException($"opus_encode_float failed: {OpusNative.ErrorText(length)}.");
        }

        _filled = 0;
        _encodedGranule += _frame.Length * _granulePerSample;
        _ogg.Add(_packet.AsSpan(0, length), Math.Min(_encodedGranule, endGranule));
    }

    private void EnsureStreaming()
    {
        ObjectDisposedException.ThrowIf(_encoder.IsClosed, this);
        if (!_begun || _finished)
        {
            throw new InvalidOperationException(_finished ? "The Opus stream is finished." : "Begin the Opus stream first.");
        }
    }

    /// <summary>OpusHead: version 1, mono, pre-skip, the input rate (informational), no gain, mapping family 0.</summary>
    private byte[] IdentificationHeader()
    {
        var head = new byte[19];
        var span = head.AsSpan();
        "OpusHead"u8.CopyTo(span);
        span[8] = 1;
        span[9] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(span[10..], checked((ushort)PreSkip));
        BinaryPrimitives.WriteUInt32LittleEndian(span[12..], (uint)_sampleRate);
        BinaryPrimitives.WriteInt16LittleEndian(span[16..], 0);
        span[18] = 0;
        return head;
    }

    /// <summary>OpusTags: the library's version string as vendor, no user comments.</summary>
    private static byte[] CommentHeader()
    {
        var vendor = Encoding.UTF8.GetBytes(Marshal.PtrToStringUTF8((nint)OpusNative.GetVersionString()) ?? "libopus");
        var tags = new byte[8 + 4 + vendor.Length + 4];
        var span = tags.AsSpan();
        "OpusTags"u8.CopyTo(span);
        BinaryPrimitives.WriteUInt32LittleEndian(span[8..], (uint)vendor.Length);
        vendor.CopyTo(span[12..]);
        BinaryPrimitives.WriteUInt32LittleEndian(span[(12 + vendor.Length)..], 0);
        return tags;
    }

    private static void Check(int result, string request)
    {
        if (result != OpusNative.Ok)
        {
            throw new InvalidOperationException($"{request} failed: {OpusNative.ErrorText(result)}.");
        }
    }
}
