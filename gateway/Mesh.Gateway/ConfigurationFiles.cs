namespace Mesh.Gateway;

public static class ConfigurationFiles
{
    /// <summary>
    /// Adds the fleet file (<c>Mesh:FleetFile</c>) and the API key file (<c>Mesh:Auth:KeysFile</c>) when given, both
    /// watched: a changed fleet re-routes and a revoked key is refused without a restart.
    /// </summary>
    public static IConfigurationBuilder AddGatewayFiles(this ConfigurationManager configuration)
    {
        foreach (var key in new[] { "Mesh:FleetFile", $"{AuthOptions.Section}:KeysFile" })
        {
            if (configuration[key] is { Length: > 0 } path)
            {
                configuration.AddJsonFile(Path.GetFullPath(path), optional: false, reloadOnChange: true);
            }
        }

        return configuration;
    }
}
