using System.Globalization;
using Google.Protobuf;
using Mesh.Backend.ModelFamilies;
using Mesh.Backend.Quantizer;
using Onnx;

namespace Mesh.ModelTools;

/// <summary>One graph file of a quantized package and what the rewriter did to it.</summary>
public sealed record QuantizedFile(string RelativePath, QuantizationReport Report, IReadOnlyList<string> Problems);

/// <summary><c>./mesh models quantize</c>: a copy of a model package with its MatMul weights in MatMulNBits INT8.</summary>
public static class PackageQuantizer
{
    /// <summary>
    /// Copies every file of <paramref name="input"/> to <paramref name="output"/>, rewriting each ONNX graph (<see cref="ModelPackage.IsOnnxFile"/>) on the way.
    /// Each rewritten graph is checked (<see cref="OnnxModelChecker"/>) before it is written.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// The directories overlap, the output exists and holds files, or the input holds no graph; nothing is written.
    /// </exception>
    /// <exception cref="InvalidDataException">
    /// A graph is not ONNX, cannot be rewritten, or fails the checks once rewritten; the message starts with its path, and
    /// the output is removed.
    /// </exception>
    public static IReadOnlyList<QuantizedFile> Quantize(string input, string output, QuantizationOptions options, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        input = Path.GetFullPath(input);
        output = Path.GetFullPath(output);
        if (!Directory.Exists(input))
        {
            throw new ArgumentException($"--in {input} is not a directory.", nameof(input));
        }

        if (IsWithin(output, input) || IsWithin(input, output))
        {
            throw new ArgumentException("--in and --out must be separate directories.", nameof(output));
        }

        CommandLine.RequireEmptyOutput(output);

        var sources = Directory.GetFiles(input, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
        if (!sources.Any(ModelPackage.IsOnnxFile))
        {
            throw new ArgumentException($"--in {input} holds no .onnx graph.", nameof(input));
        }

        var files = new List<QuantizedFile>();
        var created = !Directory.Exists(output);
        try
        {
            foreach (var file in sources)
            {
                var relative = Path.GetRelativePath(input, file);
                var target = Path.Combine(output, relative);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                if (!ModelPackage.IsOnnxFile(file))
                {
                    File.Copy(file, target);
                    continue;
                }

                ModelProto model;
                try
                {
                    using var source = File.OpenRead(file);
                    model = ModelProto.Parser.ParseFrom(source);
                }
                catch (InvalidProtocolBufferException ex)
                {
                    throw new InvalidDataException($"{relative} is not an ONNX model: {ex.Message}", ex);
                }

                QuantizationReport report;
                try
                {
                    report = MatMulNBitsRewriter.Rewrite(model, options);
                }
                catch (ArgumentException ex)
                {
                    // The options were checked above: what is left is the graph's (no graph at all, an initializer's data).
                    throw new InvalidDataException($"{relative} cannot be quantized: {CommandLine.MessageOf(ex)}", ex);
                }

                var problems = OnnxModelChecker.Check(model);
                if (problems.Count > 0)
                {
                    throw new InvalidDataException($"{relative} fails the graph checks after quantization: {string.Join(" ", problems.Take(5))}");
                }

                using (var sink = File.Create(target))
                {
                    model.WriteTo(sink);
                }

                files.Add(new QuantizedFile(relative, report, problems));
                log?.WriteLine(Describe(relative, report));
            }
        }
        catch (Exception ex)
        {
            // A half-written package would load as one missing a graph; the output was empty or absent, so it goes back.
            if (created)
            {
                Directory.Delete(output, recursive: true);
            }
            else
            {
                foreach (var entry in new DirectoryInfo(output).EnumerateFileSystemInfos())
                {
                    (entry as DirectoryInfo)?.Delete(recursive: true);
                    (entry as FileInfo)?.Delete();
                }
            }

            // .NET reports a write past the file size limit (EFBIG) so: a fault of the disk, not of an argument.
            if (ex is ArgumentOutOfRangeException)
            {
                throw new IOException($"{output}: {ex.Message}", ex);
            }

            throw;
        }

        if (log is not null && files.Count > 0)
        {
            var total = files.Select(f => f.Report).ToArray();
            log.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"total: {total.Sum(r => r.Weights.Count)} weights, matmul weights {Mb(total.Sum(r => r.SourceWeightBytes))} -> {Mb(total.Sum(r => r.QuantizedWeightBytes))} ({Ratio(total.Sum(r => r.QuantizedWeightBytes), total.Sum(r => r.SourceWeightBytes))}), graphs {Mb(total.Sum(r => r.ModelBytesBefore))} -> {Mb(total.Sum(r => r.ModelBytesAfter))} ({Ratio(total.Sum(r => r.ModelBytesAfter), total.Sum(r => r.ModelBytesBefore))}); {options}"));
        }

        return files;
    }

    public static string Describe(string name, QuantizationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var skipped = report.Skipped.Count == 0 ? "none" : string.Join(", ", report.Skipped.Select(s => $"{s.Value} {s.Key}"));
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{name}: {report.Weights.Count} weights in {report.MatMulNodes} MatMul + {report.GemmNodes} Gemm nodes ({report.FusedPairs} MatMul pairs joined first), matmul weights {Mb(report.SourceWeightBytes)} -> {Mb(report.QuantizedWeightBytes)} ({Ratio(report.QuantizedWeightBytes, report.SourceWeightBytes)}), graph {Mb(report.ModelBytesBefore)} -> {Mb(report.ModelBytesAfter)} ({Ratio(report.ModelBytesAfter, report.ModelBytesBefore)}); left as is: {skipped}");
    }

    private static string Mb(long bytes) => (bytes / 1e6).ToString("0.0", CultureInfo.InvariantCulture) + " MB";

    private static string Ratio(long part, long whole) =>
        whole == 0 ? "-" : (100.0 * part / whole).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    private static bool IsWithin(string path, string directory) =>
        (Path.TrimEndingDirectorySeparator(path) + Path.DirectorySeparatorChar).StartsWith(
            Path.TrimEndingDirectorySeparator(directory) + Path.DirectorySeparatorChar, StringComparison.Ordinal);
}
