namespace Mesh.Backend.ModelFamilies;

/// <summary>A model or its runtime could not be loaded; the message says what to fix.</summary>
public sealed class ModelLoadException : Exception
{
    public ModelLoadException(string message)
        : base(message)
    {
    }

    public ModelLoadException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
