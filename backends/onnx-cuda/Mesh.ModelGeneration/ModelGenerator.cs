using System.Diagnostics;
using System.Globalization;

namespace Mesh.ModelGeneration;

/// <summary>
/// Writes the generated model packages: deterministic (fixed seeds, byte-identical across runs), with the real
/// models' contracts, and not speech: they exercise the engine and the model families and drive benchmarks.
/// </summary>
public static class ModelGenerator
{
    public const string KokoroTiny = "kokoro-tiny";
    public const string PiperTiny = "piper-tiny";
    public const string RefAr = "ref-ar";
    public const string RefStaged = "ref-staged";

    /// <summary>Every package, in the order they are written.</summary>
    public static IReadOnlyList<string> Packages { get; } = [KokoroTiny, PiperTiny, RefAr, RefStaged];

    /// <summary>Writes <paramref name="packages"/> (all when null) as subdirectories of <paramref name="outputDirectory"/>.</summary>
    public static IReadOnlyList<string> Generate(string outputDirectory, IEnumerable<string>? packages = null, TextWriter? log = null)
    {
        var selected = (packages ?? Packages).ToArray();
        foreach (var unknown in selected.Except(Packages))
        {
            throw new ArgumentException($"'{unknown}' is not one of {string.Join("|", Packages)}.", nameof(packages));
        }

        var written = new List<string>();
        foreach (var package in Packages.Where(selected.Contains))
        {
            var started = Stopwatch.GetTimestamp();
            var directory = Path.Combine(outputDirectory, package);
            WriteInPlaceOf(directory, staging => Write(package, staging));
            written.Add(directory);
            var bytes = Directory.EnumerateFiles(directory).Sum(f => new FileInfo(f).Length);
            log?.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"{package,-11} {bytes / 1e6,8:0.0} MB  {Stopwatch.GetElapsedTime(started).TotalSeconds,5:0.0} s  {directory}"));
        }

        return written;
    }

    /// <summary>
    /// Writes a package beside <paramref name="directory"/> and moves it there whole: a failure part way (a full disk)
    /// leaves neither a package missing a file nor, under <c>--force</c>, the loss of the package it would replace.
    /// </summary>
    private static void WriteInPlaceOf(string directory, Action<string> write)
    {
        var staging = Path.Combine(Path.GetDirectoryName(directory)!, $".{Path.GetFileName(directory)}.partial");
        DeleteDirectory(staging);
        Directory.CreateDirectory(staging);
        try
        {
            write(staging);
        }
        catch (ArgumentOutOfRangeException ex)
        {
            // .NET reports a write past the file size limit (EFBIG) so: a fault of the disk, not of an argument.
            DeleteDirectory(staging);
            throw new IOException($"{Path.GetFileName(directory)}: {ex.Message}", ex);
        }
        catch
        {
            DeleteDirectory(staging);
            throw;
        }

        DeleteDirectory(directory);
        Directory.Move(staging, directory);
    }

    private static void DeleteDirectory(string directory)
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static void Write(string package, string directory)
    {
        switch (package)
        {
            case KokoroTiny:
                ModelGeneration.KokoroTiny.Write(directory, seed: 1);
                break;
            case PiperTiny:
                if (ModelGeneration.PiperTiny.MappedSymbols > ModelGeneration.PiperTiny.SymbolCount)
                {
                    throw new InvalidOperationException("The Piper symbol map outgrew the embedding.");
                }

                ModelGeneration.PiperTiny.Write(directory, seed: 2);
                break;
            case RefAr:
                var arParameters = ModelGeneration.RefAr.Write(directory, seed: 3);
                WriteReference(directory, RefAr, arParameters, json =>
                {
                    json.WriteNumber("layers", ModelGeneration.RefAr.Layers);
                    json.WriteNumber("width", ModelGeneration.RefAr.Width);
                    json.WriteNumber("vocabulary", ModelGeneration.RefAr.Vocabulary);
                    json.WriteStartObject("graphs");
                    json.WriteString("step", "step.onnx");
                    json.WriteEndObject();
                });
                break;
            case RefStaged:
                var stagedParameters = ModelGeneration.RefStaged.Write(directory, seed: 4);
                WriteReference(directory, RefStaged, stagedParameters, json =>
                {
                    json.WriteNumber("sample_rate", ModelGeneration.RefStaged.SampleRate);
                    json.WriteNumber("samples_per_frame", ModelGeneration.RefStaged.SamplesPerFrame);
                    json.WriteNumber("vocabulary", ModelGeneration.RefStaged.Vocabulary);
                    json.WriteStartObject("graphs");
                    json.WriteString("encoder", "encoder.onnx");
                    json.WriteString("decoder", "decoder.onnx");
                    json.WriteEndObject();
                });
                break;
        }
    }

    /// <summary>reference.json: marks a package as a benchmark model (not served) and describes its shapes.</summary>
    private static void WriteReference(string directory, string family, long parameters, Action<System.Text.Json.Utf8JsonWriter> details) =>
        ModelFiles.WriteJson(Path.Combine(directory, "reference.json"), json =>
        {
            json.WriteStartObject();
            json.WriteString("family", family);
            json.WriteString("note", "Generated reference model with random weights: its output is not speech.");
            json.WriteNumber("parameters", parameters);
            details(json);
            json.WriteEndObject();
        });
}
