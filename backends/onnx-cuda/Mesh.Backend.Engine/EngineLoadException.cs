namespace Mesh.Backend.Engine;

/// <summary>A model graph could not be loaded or its engine could not start; the message says what to fix.</summary>
public sealed class EngineLoadException : Exception
{
    public EngineLoadException(string message)
        : base(message)
    {
    }

    public EngineLoadException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
