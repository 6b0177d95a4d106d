using Mesh.Backend.Engine;
using Mesh.Backend.ModelFamilies.Espeak;
using Mesh.Backend.ModelFamilies.Kokoro;
using Mesh.Backend.ModelFamilies.Piper;
using Microsoft.Extensions.Logging;

namespace Mesh.Backend.ModelFamilies;

/// <summary>Turns the <c>MODEL</c> setting into a loaded model of the right family.</summary>
public static class SpeechModelLoader
{
    /// <summary>Loads with the engine's defaults (CUDA when usable, else CPU; one worker).</summary>
    public static ISpeechModel Load(string model, ILogger logger) => Load(model, new EngineSettings(), null, logger);

    /// <summary>
    /// <c>espeak</c> (or empty) is the built-in voice; anything else is a model package directory whose family is
    /// detected from its files (<see cref="ModelPackage"/>).
    /// </summary>
    /// <exception cref="ModelLoadException">The package is unknown, incomplete, or fails to load; the message says why.</exception>
    public static ISpeechModel Load(string model, EngineSettings engine, IEngineObserver? observer, ILogger logger)
    {
        if (string.IsNullOrWhiteSpace(model) || string.Equals(model, EspeakModel.ModelId, StringComparison.OrdinalIgnoreCase))
        {
            return EspeakModel.Load(logger);
        }

        if (!Directory.Exists(model))
        {
            throw new ModelLoadException($"MODEL '{model}' is neither the built-in '{EspeakModel.ModelId}' nor a model package directory.");
        }

        var package = ModelPackage.Detect(model);
        try
        {
            return package.Family switch
            {
                ModelPackage.KokoroFamily => KokoroModel.Load(package, engine, observer, logger),
                ModelPackage.PiperFamily => PiperModel.Load(package, engine, observer, logger),
                _ => throw new ModelLoadException($"Model family '{package.Family}' is not supported."),
            };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            throw new ModelLoadException($"Model package '{model}' could not be read: {ex.Message}", ex);
        }
    }
}
