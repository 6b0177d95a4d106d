using System.Globalization;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Mesh.Backend.ModelFamilies.Kokoro;

/// <summary>One Kokoro voice: style rows of <see cref="Width"/> floats, one row per utterance length.</summary>
public sealed class KokoroVoice(string name, float[] rows, int width)
{
    public string Name { get; } = name;

    public int Width { get; } = width;

    public int Rows => rows.Length / Width;

    /// <summary>The style vector for an utterance of <paramref name="phonemeTokens"/> tokens.</summary>
    public float[] StyleFor(int phonemeTokens)
    {
        var row = KokoroTokenizer.StyleRow(phonemeTokens, Rows);
        return rows.AsSpan(row * Width, Width).ToArray();
    }

    /// <summary>
    /// Language from Kokoro's naming (first letter: a American English, b British, e Spanish, f French, h Hindi,
    /// i Italian, j Japanese, p Brazilian Portuguese, z Mandarin), as an espeak-ng voice; American English for a voice
    /// named otherwise.
    /// </summary>
    public string Language => !HasKokoroPrefix ? "en-us" : char.ToLowerInvariant(Name[0]) switch
    {
        'b' => "en-gb",
        'e' => "es",
        'f' => "fr-fr",
        'h' => "hi",
        'i' => "it",
        'j' => "ja",
        'p' => "pt-br",
        'z' => "cmn",
        _ => "en-us",
    };

    /// <summary>'f' or 'm' from the second letter of the name (af_heart, am_adam), else null.</summary>
    public char? Gender => HasKokoroPrefix ? char.ToLowerInvariant(Name[1]) : null;

    // Kokoro names a voice language, gender, underscore, name (af_heart, bm_george; v0.19's default is just "af"). Only
    // such a prefix says anything: a voice file of one's own named james or emma is neither Japanese nor Spanish, nor male.
    private bool HasKokoroPrefix =>
        Name.Length >= 2 && char.IsAsciiLetter(Name[0]) && char.ToLowerInvariant(Name[1]) is 'f' or 'm' && (Name.Length == 2 || Name[2] == '_');
}

/// <summary>
/// Reads Kokoro voice files: kokoro-onnx's <c>voices*.bin</c> (a NumPy .npz, one float32 [510,1,256] array per voice)
/// or a <c>voices/</c> directory of raw float32 <c>NAME.bin</c> files (the kokoro.js layout).
/// </summary>
public static partial class KokoroVoicePack
{
    public static IReadOnlyList<KokoroVoice> ReadNpz(string path, int width)
    {
        using var zip = ZipFile.OpenRead(path);
        var entries = zip.Entries.Where(e => e.FullName.EndsWith(".npy", StringComparison.Ordinal)).OrderBy(e => e.FullName, StringComparer.Ordinal).ToArray();
        RequireDistinctNames(entries.Select(e => e.FullName), path);
        var voices = new List<KokoroVoice>();
        foreach (var entry in entries)
        {
            using var stream = entry.Open();
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var values = ReadNpy(buffer.ToArray(), out var shape, entry.FullName);
            var rowWidth = shape.Skip(1).Aggregate(1, (a, b) => a * b);
            if (rowWidth != width)
            {
                throw new InvalidDataException(
                    $"Voice '{entry.FullName}' in {path} has rows of {rowWidth} values; the model's style input takes {width}.");
            }

            // A voice without rows would load and then fail every request when its style row is picked.
            if (values.Length == 0)
            {
                throw new InvalidDataException($"Voice '{entry.FullName}' in {path} has no style rows.");
            }

            voices.Add(new KokoroVoice(Path.GetFileNameWithoutExtension(entry.FullName), values, width));
        }

        return voices.Count > 0 ? voices : throw new InvalidDataException($"{path} holds no voices (.npy arrays).");
    }

    public static IReadOnlyList<KokoroVoice> ReadDirectory(string directory, int width)
    {
        var files = Directory.EnumerateFiles(directory, "*.bin").Order(StringComparer.Ordinal).ToArray();
        RequireDistinctNames(files.Select(Path.GetFileName).OfType<string>(), directory);
        var voices = files.Select(file =>
        {
            var bytes = File.ReadAllBytes(file);
            if (bytes.Length == 0 || bytes.Length % (width * sizeof(float)) != 0)
            {
                throw new InvalidDataException($"{file} is not a whole number of {width}-float style rows.");
            }

            return new KokoroVoice(Path.GetFileNameWithoutExtension(file), MemoryMarshal.Cast<byte, float>(bytes).ToArray(), width);
        }).ToArray();
        return voices.Length > 0 ? voices : throw new InvalidDataException($"{directory} holds no voice files (*.bin).");
    }

    // Clients name voices in any case (PackageVoices ignores it), so files whose names differ only by case would be one
    // voice; a case-sensitive file system or a zip can still hold both.
    private static void RequireDistinctNames(IEnumerable<string> files, string source)
    {
        var byVoice = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var file in files)
        {
            var voice = Path.GetFileNameWithoutExtension(file);
            if (!byVoice.TryAdd(voice, file))
            {
                throw new InvalidDataException(
                    $"{source} holds {byVoice[voice]} and {file}, one voice to clients (voice names ignore case); keep one.");
            }
        }
    }

    /// <summary>A little-endian float32 C-order .npy array.</summary>
    public static float[] ReadNpy(byte[] bytes, out int[] shape, string name)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length < 12 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY")
        {
            throw new InvalidDataException($"{name} is not a .npy array.");
        }

        // Every length and dimension below comes from the file: out-of-range ones are a load error, not a crash.
        var major = bytes[6];
        var headerStart = major == 1 ? 10 : 12;
        long headerLength = major == 1 ? BitConverter.ToUInt16(bytes, 8) : BitConverter.ToUInt32(bytes, 8);
        if (headerLength > bytes.Length - headerStart)
        {
            throw new InvalidDataException($"{name}: the .npy header runs past the end of the file.");
        }

        var dataStart = headerStart + (int)headerLength;
        var header = Encoding.ASCII.GetString(bytes, headerStart, (int)headerLength);
        if (!header.Contains("'descr': '<f4'", StringComparison.Ordinal) || header.Contains("'fortran_order': True", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{name}: only little-endian float32 C-order arrays are supported ({header.Trim()}).");
        }

        var match = ShapePattern().Match(header);
        if (!match.Success)
        {
            throw new InvalidDataException($"{name}: no shape in the .npy header.");
        }

        var dimensions = match.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        shape = new int[dimensions.Length];
        var count = 1L;
        for (var d = 0; d < dimensions.Length; d++)
        {
            if (!int.TryParse(dimensions[d], NumberStyles.None, CultureInfo.InvariantCulture, out shape[d]))
            {
                throw new InvalidDataException($"{name}: '{dimensions[d]}' is not a dimension.");
            }

            // Checked per dimension, so the product cannot overflow before it is compared.
            count *= shape[d];
            if (dataStart + (count * sizeof(float)) > bytes.Length)
            {
                throw new InvalidDataException($"{name}: the data is shorter than its shape.");
            }
        }

        return MemoryMarshal.Cast<byte, float>(bytes.AsSpan(dataStart, (int)(count * sizeof(float)))).ToArray();
    }

    [GeneratedRegex(@"'shape':\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}
