using Mesh.Backend.Engine;
using Microsoft.Extensions.Logging;

namespace Mesh.Backend.ModelFamilies;

/// <summary>
/// A model package directory and the family its files say it is:
/// <list type="bullet">
/// <item><c>piper</c>: <c>NAME.onnx</c> with <c>NAME.onnx.json</c> (Piper's voice config);</item>
/// <item><c>kokoro</c>: one <c>.onnx</c> with <c>voices*.bin</c> / <c>voices*.npz</c> or a <c>voices/</c> directory
/// (an optional <c>config.json</c> with <c>vocab</c> overrides Kokoro's vocabulary);</item>
/// <item>reference models (<c>reference.json</c>): benchmark models, not served.</item>
/// </list>
/// </summary>
public sealed class ModelPackage
{
    public const string PiperFamily = "piper";
    public const string KokoroFamily = "kokoro";

    private ModelPackage(string directory, string family, string modelFile)
    {
        Directory = directory;
        Family = family;
        ModelFile = modelFile;
        Id = Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));
    }

    public string Directory { get; }

    /// <summary>The model id clients name: the package directory's name.</summary>
    public string Id { get; }

    public string Family { get; }

    public string ModelFile { get; }

    public string? PiperConfig { get; private init; }

    public string? VoicesFile { get; private init; }

    public string? VoicesDirectory { get; private init; }

    public string? KokoroConfig { get; private init; }

    /// <exception cref="ModelLoadException">The directory is no package of a known family, or a file is missing.</exception>
    public static ModelPackage Detect(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
        {
            throw new ModelLoadException($"Model package '{directory}' does not exist.");
        }

        var files = System.IO.Directory.GetFiles(directory).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray();
        if (files.Contains("reference.json"))
        {
            throw new ModelLoadException(
                $"'{directory}' is a generated reference model (reference.json) for benchmarks; the backend serves espeak, kokoro and piper packages.");
        }

        var piperConfigs = files.Where(f => HasExtension(f, ".onnx.json")).ToArray();
        if (piperConfigs.Length > 1)
        {
            throw new ModelLoadException($"'{directory}' holds {piperConfigs.Length} Piper voices ({string.Join(", ", piperConfigs)}); a package is one voice.");
        }

        if (piperConfigs.Length == 1)
        {
            var model = piperConfigs[0][..^".json".Length];
            if (!files.Contains(model))
            {
                throw new ModelLoadException($"Piper package '{directory}' is missing {model} (it has {piperConfigs[0]}).");
            }

            return new ModelPackage(directory, PiperFamily, Path.Combine(directory, model)) { PiperConfig = Path.Combine(directory, piperConfigs[0]) };
        }

        var models = files.Where(IsOnnxFile).ToArray();
        var voicesFile = files.FirstOrDefault(f => f.StartsWith("voices", StringComparison.Ordinal) && (HasExtension(f, ".bin") || HasExtension(f, ".npz")));
        var voicesDirectory = Path.Combine(directory, "voices");
        var hasVoicesDirectory = System.IO.Directory.Exists(voicesDirectory);
        var kokoroConfig = files.Contains("config.json") ? Path.Combine(directory, "config.json") : null;
        var looksKokoro = voicesFile is not null || hasVoicesDirectory || models.Any(m => m.Contains("kokoro", StringComparison.OrdinalIgnoreCase));
        if (looksKokoro)
        {
            if (models.Length != 1)
            {
                throw new ModelLoadException(models.Length == 0
                    ? $"Kokoro package '{directory}' is missing its model (.onnx)."
                    : $"Kokoro package '{directory}' holds {models.Length} models ({string.Join(", ", models)}); keep one.");
            }

            if (voicesFile is null && !hasVoicesDirectory)
            {
                throw new ModelLoadException($"Kokoro package '{directory}' is missing its voices file (voices*.bin, as kokoro-onnx ships it, or a voices/ directory).");
            }

            return new ModelPackage(directory, KokoroFamily, Path.Combine(directory, models[0]))
            {
                VoicesFile = voicesFile is null ? null : Path.Combine(directory, voicesFile),
                VoicesDirectory = voicesFile is null ? voicesDirectory : null,
                KokoroConfig = kokoroConfig,
            };
        }

        if (models.Length > 0)
        {
            throw new ModelLoadException(
                $"'{directory}' has {string.Join(", ", models)} but neither a Piper config ({models[0]}.json) nor Kokoro voices (voices*.bin).");
        }

        throw new ModelLoadException($"No model family recognizes the files in '{directory}' (no .onnx model); supported families: espeak, kokoro, piper.");
    }

    /// <summary>Whether <paramref name="path"/> names an ONNX graph: <c>.onnx</c> in any case (<c>model.ONNX</c> too).</summary>
    public static bool IsOnnxFile(string path) => HasExtension(path, ".onnx");

    /// <summary>Starts the engine for a package; load failures become <see cref="ModelLoadException"/>s that name the package.</summary>
    internal static async Task<InferenceEngine> StartEngineAsync(
        ModelPackage package, IReadOnlyList<GraphFile> graphs, EngineSettings settings, IEngineObserver? observer, ILogger logger, CancellationToken cancellationToken)
    {
        try
        {
            return await InferenceEngine.CreateAsync(package.Id, graphs, settings, observer, logger, cancellationToken);
        }
        catch (EngineLoadException ex)
        {
            throw new ModelLoadException($"Model '{package.Id}' ({package.Family}) failed to load: {ex.Message}", ex);
        }
    }

    private static bool HasExtension(string fileName, string extension) => fileName.EndsWith(extension, StringComparison.OrdinalIgnoreCase);
}
