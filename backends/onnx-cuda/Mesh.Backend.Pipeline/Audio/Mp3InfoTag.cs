using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Mesh.Backend.Pipeline.Audio;

/// <summary>
/// The Xing "Info" frame with LAME's extension that opens a CBR MP3, stating only what is known before the audio: the
/// encoder delay. Its frame count, byte count and end padding describe the end, so they are left out or zero, and
/// decoders that read the tag (ffmpeg, and browsers built on it) skip the delay and the frame itself while the
/// stream still flows; the rest of the last frame still plays.
/// </summary>
/// <remarks>Layout: Xing's header and LAME's extension after it, as http://gabriel.mp3-tech.org/mp3infotag.html describes them.</remarks>
internal static class Mp3InfoTag
{
    private static readonly int[] Mpeg1Kbps = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
    private static readonly int[] Mpeg2Kbps = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

    /// <summary>The frame, of the stream's own rate and bitrate so a decoder takes it for one of its frames.</summary>
    public static byte[] Frame(int sampleRate, int kbps, int encoderDelay)
    {
        // MPEG-1 from 32 kHz, MPEG-2 from 16 kHz, MPEG-2.5 below; each version codes three rates.
        var (versionBits, kbpsTable, sideInfoBytes, frameFactor) = sampleRate switch
        {
            >= 32000 => (0b11, Mpeg1Kbps, 17, 144000),
            >= 16000 => (0b10, Mpeg2Kbps, 9, 72000),
            _ => (0b00, Mpeg2Kbps, 9, 72000),
        };
        var rateIndex = sampleRate switch
        {
            44100 or 22050 or 11025 => 0,
            48000 or 24000 or 12000 => 1,
            32000 or 16000 or 8000 => 2,
            _ => throw new ArgumentOutOfRangeException(nameof(sampleRate), sampleRate, "MPEG audio cannot code this sample rate."),
        };
        var bitrateIndex = Array.IndexOf(kbpsTable, kbps);
        if (bitrateIndex <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(kbps), kbps, $"MPEG cannot code {kbps} kbit/s at {sampleRate} Hz.");
        }

        var frame = new byte[frameFactor * kbps / sampleRate];
        // Sync, version, layer III, no CRC; bitrate and rate; mono.
        frame[0] = 0xFF;
        frame[1] = (byte)(0xE0 | (versionBits << 3) | (0b01 << 1) | 1);
        frame[2] = (byte)((bitrateIndex << 4) | (rateIndex << 2));
        frame[3] = 0b11 << 6;

        // Side information left zero: the frame holds no audio.
        var tag = frame.AsSpan(4 + sideInfoBytes);
        "Info"u8.CopyTo(tag);
        // Flags (tag[4..8]) zero: no frame count, byte count, seek table or quality, none being known yet.
        var lame = tag[8..];
        var version = Encoding.ASCII.GetBytes(Marshal.PtrToStringAnsi(LameNative.VeryShortVersion()) ?? "LAME");
        version.AsSpan(0, Math.Min(version.Length, 9)).CopyTo(lame);
        lame[9] = 1; // tag revision 0, method 1: constant bitrate
        lame[20] = (byte)Math.Min(kbps, 255);
        // 12 bits of encoder delay, then 12 of end padding, unknown until the end.
        lame[21] = (byte)(encoderDelay >> 4);
        lame[22] = (byte)((encoderDelay & 0xF) << 4);
        var crcAt = 4 + sideInfoBytes + 8 + 34;
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(crcAt), Crc16(frame.AsSpan(0, crcAt)));
        return frame;
    }

    /// <summary>The CRC-16 (polynomial 0x8005, reflected, initial 0) LAME puts last in its tag, over the bytes before it.</summary>
    private static ushort Crc16(ReadOnlySpan<byte> bytes)
    {
        var crc = 0;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xA001 : crc >> 1;
            }
        }

        return (ushort)crc;
    }
}
