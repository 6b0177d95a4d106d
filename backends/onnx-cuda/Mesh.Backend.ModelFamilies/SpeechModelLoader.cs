using Mesh.Backend.Engine;
using Mesh.Backend.ModelFamilies.Espeak;
using Mesh.Backend.ModelFamilies.Kokoro;
using Mesh.Backend.ModelFamilies.Piper;
using Microsoft.Extensions.Logging;

namespace Mesh.Backend.ModelFamilies;

/// <summary>Turns the <c>MODEL</c> setting into a loaded model of the right family.</summary>
public static class SpeechModelLoader
{
    /// <summary>
    /// <c>espeak</c> (or empty) is the built-in voice; anything else is a model package directory whose family is
    /// detected from its files (<see cref="ModelPackage"/>).
    /// </summary>
    /// <exception cref="ModelLoadException">The package is unknown, incomplete, or fails to load; the message says why.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled before the model was loaded.</exception>
    public static async Task<ISpeechModel> LoadAsync(
        string model, EngineSettings engine, IEngineObserver? observer, ILogger logger, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(model) || string.Equals(model, EspeakModel.ModelId, StringComparison.OrdinalIgnoreCase))
        {
            return await EspeakModel.LoadAsync(logger, cancellationToken);
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
                ModelPackage.KokoroFamily => await KokoroModel.LoadAsync(package, engine, observer, logger, cancellationToken),
                ModelPackage.PiperFamily => await PiperModel.LoadAsync(package, engine, observer, logger, cancellationToken),
                _ => throw new ModelLoadException($"Model family '{package.Family}' is not supported."),
            };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            throw new ModelLoadException($"Model package '{model}' could not be read: {ex.Message}", ex);
        }
    }
}
