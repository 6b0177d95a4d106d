namespace Mesh.Gateway;

public static partial class ConfigurationFiles
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
                ((IConfigurationBuilder)configuration).Add(new WatchedSettingsFileSource(key, Path.GetFullPath(path)));
            }
        }

        return configuration;
    }

    /// <summary>
    /// Reports each save of a watched file as a saved file that fails validation is: one that could not be read is
    /// logged, and <c>mesh_config_last_reload_successful</c> under the file's key says whether the latest save applied.
    /// </summary>
    public static void ReportFileSaves(this WebApplication app)
    {
        var logger = app.Services.GetRequiredService<ILogger<WatchedSettingsFile>>();
        foreach (var file in ((IConfigurationRoot)app.Configuration).Providers.OfType<WatchedSettingsFile>())
        {
            var applied = GatewayMetrics.LastReloadSuccessful.WithLabels(file.Key);
            applied.Set(1);
            file.Reloaded += refusal =>
            {
                applied.Set(refusal is null ? 1 : 0);
                if (refusal is not null)
                {
                    LogSaveRefused(logger, refusal);
                }
            };
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The changed settings file was refused; the settings in force stay: {Reason}")]
    private static partial void LogSaveRefused(ILogger logger, string reason);

    private sealed class WatchedSettingsFileSource(string key, string path) : IConfigurationSource
    {
        public IConfigurationProvider Build(IConfigurationBuilder builder) => new WatchedSettingsFile(key, path);
    }
}
