using System.Buffers;
using System.Buffers.Binary;

namespace Mesh.Backend.Pipeline.Audio;

/// <summary>
/// Packs the packets of one logical bitstream into Ogg pages (RFC 3533). Every packet stays within one page, which
/// holds for anything shorter than 255 × 255 bytes: Opus packets and headers are far smaller.
/// </summary>
internal sealed class OggPageWriter(uint serial, PendingBytes output)
{
    public const int MaxPacketBytes = (MaxSegments * 255) - 1;

    private const int MaxSegments = 255;
    private const int HeaderBytes = 27;
    private const byte FlagBeginOfStream = 0x02;
    private const byte FlagEndOfStream = 0x04;

    private static readonly uint[] CrcTable = BuildCrcTable();

    private readonly byte[] _lacing = new byte[MaxSegments];
    private readonly ArrayBufferWriter<byte> _body = new();
    private int _packets;
    private int _segments;
    private long _granule;
    private uint _sequence;
    private bool _ended;

    /// <summary>Adds a packet after which <paramref name="granule"/> samples are decoded; a full page goes out first.</summary>
    public void Add(ReadOnlySpan<byte> packet, long granule)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(packet.Length, MaxPacketBytes, nameof(packet));
        var segments = (packet.Length / 255) + 1;
        if (_segments + segments > MaxSegments)
        {
            Flush();
        }

        // Lacing: 255 per full segment, then the remainder, which is 0 when the length is a multiple of 255.
        _lacing.AsSpan(_segments, segments - 1).Fill(255);
        _lacing[_segments + segments - 1] = (byte)(packet.Length % 255);
        _segments += segments;
        _body.Write(packet);
        _packets++;
        _granule = granule;
    }

    /// <summary>Writes the packets added since the last page as one page, if there are any.</summary>
    public void Flush()
    {
        if (_packets > 0)
        {
            WritePage(endOfStream: false);
        }
    }

    /// <summary>Writes the last page, marked end of stream; its granule position may end before its last packet does.</summary>
    public void End()
    {
        WritePage(endOfStream: true);
        _ended = true;
    }

    /// <summary>Ogg's CRC-32: polynomial 0x04C11DB7, not reflected, initial value and final XOR 0.</summary>
    public static uint Crc(ReadOnlySpan<byte> bytes)
    {
        var crc = 0u;
        foreach (var b in bytes)
        {
            crc = (crc << 8) ^ CrcTable[(crc >> 24) ^ b];
        }

        return crc;
    }

    private void WritePage(bool endOfStream)
    {
        if (_ended)
        {
            throw new InvalidOperationException("The Ogg stream has ended.");
        }

        var page = new byte[HeaderBytes + _segments + _body.WrittenCount];
        var span = page.AsSpan();
        "OggS"u8.CopyTo(span);
        span[4] = 0; // stream structure version
        span[5] = (byte)((_sequence == 0 ? FlagBeginOfStream : 0) | (endOfStream ? FlagEndOfStream : 0));
        BinaryPrimitives.WriteInt64LittleEndian(span[6..], _granule);
        BinaryPrimitives.WriteUInt32LittleEndian(span[14..], serial);
        BinaryPrimitives.WriteUInt32LittleEndian(span[18..], _sequence);
        span[26] = (byte)_segments;
        _lacing.AsSpan(0, _segments).CopyTo(span[HeaderBytes..]);
        _body.WrittenSpan.CopyTo(span[(HeaderBytes + _segments)..]);

        // The checksum covers the whole page with its own field zeroed, as it still is here.
        BinaryPrimitives.WriteUInt32LittleEndian(span[22..], Crc(span));
        output.Append(span);

        _sequence++;
        _segments = 0;
        _packets = 0;
        _body.ResetWrittenCount();
    }

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (var i = 0u; i < 256; i++)
        {
            var r = i << 24;
            for (var bit = 0; bit < 8; bit++)
            {
                r = (r & 0x80000000) != 0 ? (r << 1) ^ 0x04C11DB7 : r << 1;
            }

            table[i] = r;
        }

        return table;
    }
}
