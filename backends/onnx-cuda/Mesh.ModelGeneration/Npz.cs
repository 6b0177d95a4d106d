using System.Globalization;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;

namespace Mesh.ModelGeneration;

/// <summary>Writes NumPy .npz archives (what <c>np.savez</c> makes: a stored zip of .npy files).</summary>
internal static class Npz
{
    public static void Write(string path, IEnumerable<(string Name, float[] Values, int[] Shape)> arrays)
    {
        using var file = File.Create(path);
        using var zip = new ZipArchive(file, ZipArchiveMode.Create);
        foreach (var (name, values, shape) in arrays)
        {
            var entry = zip.CreateEntry(name + ".npy", CompressionLevel.NoCompression);
            // A fixed timestamp keeps the archive byte-identical across runs.
            entry.LastWriteTime = new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero);
            using var stream = entry.Open();
            WriteNpy(stream, values, shape);
        }
    }

    private static void WriteNpy(Stream stream, float[] values, int[] shape)
    {
        var dims = string.Join(", ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + (shape.Length == 1 ? "," : string.Empty);
        var header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}";
        // Version 1.0: magic, version, 2-byte header length; the header is space-padded to a multiple of 64 and ends in '\n'.
        var total = 10 + header.Length + 1;
        header += new string(' ', ((total + 63) / 64 * 64) - total) + "\n";
        stream.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
        stream.Write(BitConverter.GetBytes((ushort)header.Length));
        stream.Write(Encoding.ASCII.GetBytes(header));
        stream.Write(MemoryMarshal.AsBytes(values.AsSpan()));
    }
}
