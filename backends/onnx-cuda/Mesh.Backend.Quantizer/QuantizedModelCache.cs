using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Google.Protobuf;
using Onnx;

namespace Mesh.Backend.Quantizer;

/// <summary>A quantization in a few numbers, for logs and the cache (the full report lists every weight).</summary>
public sealed record QuantizationSummary(
    int Weights, int Nodes, int FusedPairs, long SourceWeightBytes, long QuantizedWeightBytes, long ModelBytesBefore, long ModelBytesAfter, string Options)
{
    public double WeightRatio => SourceWeightBytes == 0 ? 1 : (double)QuantizedWeightBytes / SourceWeightBytes;

    public static QuantizationSummary From(QuantizationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        return new QuantizationSummary(
            report.Weights.Count,
            report.MatMulNodes + report.GemmNodes,
            report.FusedPairs,
            report.SourceWeightBytes,
            report.QuantizedWeightBytes,
            report.ModelBytesBefore,
            report.ModelBytesAfter,
            report.Options.ToString());
    }
}

/// <summary>
/// One graph prepared for loading: the quantized model is in <see cref="Model"/> when it was just made (load it from
/// memory) and at <see cref="CachedPath"/> when the cache holds it; <see cref="CacheProblem"/> says why it could not be
/// cached (the model still loads from memory).
/// </summary>
public sealed record QuantizedGraph(
    string SourcePath, string? CachedPath, byte[]? Model, QuantizationSummary Summary, bool FromCache, string? CacheProblem)
{
    /// <summary>Why the graph was left as it is, to load from <see cref="SourcePath"/>; null when it was rewritten.</summary>
    public string? NotQuantized { get; init; }
}

/// <summary>
/// Quantized graphs cached on disk by content: the key is the SHA-256 of the source graph's bytes and of the options
/// (and of <see cref="FormatVersion"/>), so a changed model or option never meets a stale entry, and a package moved or
/// copied elsewhere still hits. The default directory is per user (<c>$XDG_CACHE_HOME/mesh/quantized</c>, else
/// <c>~/.cache/mesh/quantized</c>) rather than beside the package, which is often mounted read-only.
/// </summary>
public static class QuantizedModelCache
{
    /// <summary>Bump when the rewriter's output changes for the same source and options.</summary>
    public const int FormatVersion = 3;

    public static string DefaultDirectory
    {
        get
        {
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var root = !string.IsNullOrEmpty(xdg)
                ? xdg
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            return Path.Combine(root, "mesh", "quantized");
        }
    }

    /// <summary>The quantized form of <paramref name="sourcePath"/>: from the cache, or made now and cached.</summary>
    /// <exception cref="InvalidProtocolBufferException">The source is not an ONNX model.</exception>
    public static QuantizedGraph Prepare(string sourcePath, QuantizationOptions options, string? cacheDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var directory = string.IsNullOrEmpty(cacheDirectory) ? DefaultDirectory : cacheDirectory;
        var key = Key(sourcePath, options);
        var cached = Path.Combine(directory, key + ".onnx");
        var summaryPath = Path.Combine(directory, key + ".json");
        // The summary is written after the graph and records its size: a graph without one, or cut short, is made again.
        if (File.Exists(cached) && ReadSummary(summaryPath) is { } known && new FileInfo(cached).Length == known.ModelBytesAfter)
        {
            return new QuantizedGraph(sourcePath, cached, null, known, FromCache: true, null);
        }

        ModelProto model;
        using (var source = File.OpenRead(sourcePath))
        {
            model = ModelProto.Parser.ParseFrom(source);
        }

        if (model.Graph?.Initializer.Any(TensorData.IsExternal) ?? false)
        {
            // External data is found beside the graph's file: a copy in the cache, or bytes, could not load.
            var size = model.CalculateSize();
            return new QuantizedGraph(sourcePath, null, null, new QuantizationSummary(0, 0, 0, 0, 0, size, size, options.ToString()), FromCache: false, null)
            {
                NotQuantized = "it keeps weights in external data files, which a quantized copy could not find",
            };
        }

        var summary = QuantizationSummary.From(MatMulNBitsRewriter.Rewrite(model, options));
        var bytes = model.ToByteArray();
        try
        {
            Directory.CreateDirectory(directory);
            WriteWhole(cached, bytes);
            WriteWhole(summaryPath, JsonSerializer.SerializeToUtf8Bytes(summary, CacheJsonContext.Default.QuantizationSummary));
            return new QuantizedGraph(sourcePath, cached, bytes, summary, FromCache: false, null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return new QuantizedGraph(sourcePath, null, bytes, summary, FromCache: false, $"{directory}: {ex.Message}");
        }
    }

    /// <summary>The cache key: SHA-256 of the source's bytes, then of the options and format version.</summary>
    public static string Key(string sourcePath, QuantizationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        byte[] content;
        using (var source = File.OpenRead(sourcePath))
        {
            content = SHA256.HashData(source);
        }

        var settings = SHA256.HashData(Encoding.UTF8.GetBytes($"{options} format={FormatVersion}"));
        return $"{Convert.ToHexStringLower(content)[..32]}-{Convert.ToHexStringLower(settings)[..12]}";
    }

    /// <summary>
    /// Written aside, flushed and renamed, so a backend starting next to this one, or after a crash, never reads half a
    /// file. The aside name is unique: backends in containers all run as process 1 and may share the cache directory.
    /// </summary>
    private static void WriteWhole(string path, byte[] bytes)
    {
        var partial = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var file = new FileStream(partial, FileMode.CreateNew, FileAccess.Write))
            {
                file.Write(bytes);
                file.Flush(flushToDisk: true);
            }

            File.Move(partial, path, overwrite: true);
        }
        finally
        {
            File.Delete(partial); // nothing once renamed; a failed write (a full disk) leaves no stray copy
        }
    }

    private static QuantizationSummary? ReadSummary(string path)
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize(File.ReadAllText(path), CacheJsonContext.Default.QuantizationSummary) : null;
        }
        catch (Exception ex) when (ex is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

[JsonSerializable(typeof(QuantizationSummary))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
internal sealed partial class CacheJsonContext : JsonSerializerContext;
