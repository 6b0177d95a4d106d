using Mesh.Contracts.Http;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.FileProviders.Physical;
using Microsoft.Extensions.Primitives;

namespace Mesh.Gateway;

/// <summary>
/// A JSON settings file the gateway watches, named by the setting <paramref name="key"/>. At start a file that is missing
/// or not valid JSON is refused by that key. A save read while the gateway runs that is missing (deleted, moved away) or
/// not valid JSON (half written) keeps the settings last read from it and is reported through <see cref="Reloaded"/>;
/// the framework's JSON file would drop its settings instead, so the next reload of any setting would run without
/// the file's backends or keys. The next save that reads applies.
/// </summary>
public sealed class WatchedSettingsFile(string key, string path)
    // Not reloaded by the framework's own watch, which empties the settings when the file cannot be read.
    : JsonConfigurationProvider(new JsonConfigurationSource { Path = path, ReloadOnChange = false })
{
    private readonly string _path = path;
    private PhysicalFileProvider? _directory;
    private IDisposable? _watch;

    // Why the latest save was refused, so a save the watcher reports twice is reported once.
    private string? _refusedFor;

    /// <summary>The setting that names the file (<c>Mesh:FleetFile</c>).</summary>
    public string Key => key;

    /// <summary>
    /// Raised for each save read while the gateway runs: with null when it applied, else with why it was refused, naming
    /// the key and the file (once for the same reason in a row); the settings in force stay.
    /// </summary>
    public event Action<string?>? Reloaded;

    public override void Load()
    {
        if (Read() is { } failure)
        {
            throw new RefusedSettingException(failure);
        }

        // Every file, a dot file too, as an operator may name any.
        _directory ??= new PhysicalFileProvider(System.IO.Path.GetDirectoryName(_path)!, ExclusionFilters.None);
        _watch ??= ChangeToken.OnChange(() => _directory.Watch(System.IO.Path.GetFileName(_path)), Reload);
    }

    protected override void Dispose(bool disposing)
    {
        _watch?.Dispose();
        _directory?.Dispose();
        base.Dispose(disposing);
    }

    private void Reload()
    {
        // As the framework's watch does: an editor's save is often several writes.
        Thread.Sleep(Source.ReloadDelay);
        if (Read() is { } failure)
        {
            if (failure != _refusedFor)
            {
                _refusedFor = failure;
                Reloaded?.Invoke(failure);
            }

            return;
        }

        _refusedFor = null;
        OnReload();
        Reloaded?.Invoke(null);
    }

    /// <summary>Reads the file into the settings, or says why it could not, leaving the settings as they were.</summary>
    private string? Read()
    {
        try
        {
            using var stream = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            // Replaces the settings only once the whole file parsed.
            Load(stream);
            return null;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return $"{key} names {_path}, which does not exist.";
        }
        catch (FormatException ex)
        {
            // The parser's own message says where it stopped (LineNumber and BytePositionInLine, counted from 0).
            return $"{key} names {_path}, which is not valid JSON: {(ex.InnerException ?? ex).Message}";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"{key} names {_path}, which cannot be read: {ex.Message}";
        }
    }
}
