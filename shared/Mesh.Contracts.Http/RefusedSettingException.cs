namespace Mesh.Contracts.Http;

/// <summary>A setting refused before options could bind it (a settings file it names that cannot be read), as its line says.</summary>
public sealed class RefusedSettingException(string message) : Exception(message);
