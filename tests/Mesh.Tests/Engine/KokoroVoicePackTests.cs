using System.IO.Compression;
using System.Text;
using Mesh.Backend.ModelFamilies.Kokoro;

namespace Mesh.Tests.Engine;

/// <summary>Voice files come from model packages: a malformed one must fail the load with a clear error.</summary>
public sealed class KokoroVoicePackTests : IDisposable
{
    private const int Width = 4;
    private readonly string _directory = Directory.CreateTempSubdirectory("kokoro-voices-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Npz_voices_load_their_rows()
    {
        var voices = KokoroVoicePack.ReadNpz(Npz(("af_a.npy", Npy("(3, 1, 4)", 12))), Width);
        Assert.Equal(3, Assert.Single(voices).Rows);
    }

    [Fact]
    public void A_voice_without_rows_is_a_load_error()
    {
        // Before: it loaded, and every request for it threw from StyleFor (Math.Clamp with max -1).
        var ex = Assert.Throws<InvalidDataException>(() => KokoroVoicePack.ReadNpz(Npz(("af_empty.npy", Npy("(0, 1, 4)", 0))), Width));
        Assert.Contains("no style rows", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Npz_voices_differing_only_by_case_are_invalid_data_naming_both()
    {
        // Clients name voices in any case, so AF_x and af_x would be one voice; before, the load failed on a raw ArgumentException.
        var path = Npz(("AF_x.npy", Npy("(1, 1, 4)", 4)), ("af_x.npy", Npy("(1, 1, 4)", 4)));
        var ex = Assert.Throws<InvalidDataException>(() => KokoroVoicePack.ReadNpz(path, Width));
        Assert.Contains("AF_x.npy", ex.Message, StringComparison.Ordinal);
        Assert.Contains("af_x.npy", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("(-1, 4)")]
    [InlineData("(99999999999, 4)")]
    [InlineData("(65536, 65536, 65536, 65536)")]
    public void A_bad_shape_is_invalid_data(string shape)
    {
        Assert.Throws<InvalidDataException>(() => KokoroVoicePack.ReadNpy(Npy(shape, 8), out _, "v.npy"));
    }

    [Fact]
    public void A_header_longer_than_the_file_is_invalid_data()
    {
        var bytes = Npy("(2, 4)", 8);
        bytes[6] = 2; // version 2: a 4-byte header length, here the version-1 header's bytes plus the start of it
        Assert.Throws<InvalidDataException>(() => KokoroVoicePack.ReadNpy(bytes, out _, "v.npy"));
        bytes[6] = 1;
        BitConverter.TryWriteBytes(bytes.AsSpan(8, 2), (ushort)60000);
        Assert.Throws<InvalidDataException>(() => KokoroVoicePack.ReadNpy(bytes, out _, "v.npy"));
    }

    private static byte[] Npy(string shape, int values)
    {
        var header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}\n";
        var bytes = new List<byte> { 0x93 };
        bytes.AddRange(Encoding.ASCII.GetBytes("NUMPY"));
        bytes.AddRange([1, 0]);
        bytes.AddRange(BitConverter.GetBytes((ushort)header.Length));
        bytes.AddRange(Encoding.ASCII.GetBytes(header));
        for (var i = 0; i < values; i++)
        {
            bytes.AddRange(BitConverter.GetBytes((float)i));
        }

        return [.. bytes];
    }

    private string Npz(params (string Name, byte[] Bytes)[] entries)
    {
        var path = Path.Combine(_directory, "voices.bin");
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var (name, bytes) in entries)
        {
            using var stream = zip.CreateEntry(name).Open();
            stream.Write(bytes);
        }

        return path;
    }
}
