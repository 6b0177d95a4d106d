using Mesh.Backend.ModelFamilies.Espeak;
using Microsoft.Extensions.Logging;

namespace Mesh.Backend.ModelFamilies;

/// <summary>Turns the <c>MODEL</c> setting into a loaded model of the right family.</summary>
public static class SpeechModelLoader
{
    public static ISpeechModel Load(string model, ILogger logger)
    {
        if (string.IsNullOrWhiteSpace(model) || string.Equals(model, EspeakModel.ModelId, StringComparison.OrdinalIgnoreCase))
        {
            return EspeakModel.Load(logger);
        }

        if (!Directory.Exists(model))
        {
            throw new ModelLoadException($"MODEL '{model}' is neither the built-in '{EspeakModel.ModelId}' nor a model package directory.");
        }

        throw new ModelLoadException($"No model family recognizes the files in '{model}'; supported families: {EspeakModel.FamilyName}.");
    }
}
