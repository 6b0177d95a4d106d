using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Mesh.Tests.Integration;
using YamlDotNet.RepresentationModel;

namespace Mesh.Tests.Observability;

/// <summary>
/// A real Prometheus (Debian's <c>prometheus</c> package) on a free loopback port, configured from the repository's
/// <c>ops/prometheus/prometheus.yml</c> with only its paths and intervals changed, and queried over its HTTP API.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly HttpClient _client;

    private PrometheusServer(Process process, Uri url)
    {
        _process = process;
        Url = url;
        _client = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };
    }

    public Uri Url { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The binary CI installs (<c>.ci/run</c>); the tests fail rather than skip without it.</summary>
    public static string Binary { get; } =
        new[] { "/usr/bin/prometheus", "/usr/local/bin/prometheus" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("Prometheus is not installed; run: apt-get install -y prometheus (.ci/run does).");

    /// <summary>
    /// <c>ops/prometheus/prometheus.yml</c> for a test: scrape and rule evaluation every <paramref name="interval"/>,
    /// rule files by absolute path, and file discovery reading the targets files from <paramref name="targetsDirectory"/>.
    /// </summary>
    public static string ConfigFor(string targetsDirectory, string interval)
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(RepoPaths.Root, "ops/prometheus/prometheus.yml")))
        {
            stream.Load(reader);
        }

        var root = (YamlMappingNode)stream.Documents[0].RootNode;
        var global = (YamlMappingNode)root["global"];
        global.Children[new YamlScalarNode("scrape_interval")] = new YamlScalarNode(interval);
        global.Children[new YamlScalarNode("evaluation_interval")] = new YamlScalarNode(interval);

        var rules = (YamlSequenceNode)root["rule_files"];
        root.Children[new YamlScalarNode("rule_files")] = new YamlSequenceNode(
            rules.Children.Select(r => new YamlScalarNode(Path.Combine(RepoPaths.Root, "ops/prometheus", ((YamlScalarNode)r).Value!))));

        foreach (var job in ((YamlSequenceNode)root["scrape_configs"]).Children.Cast<YamlMappingNode>())
        {
            foreach (var discovery in ((YamlSequenceNode)job["file_sd_configs"]).Children.Cast<YamlMappingNode>())
            {
                var files = (YamlSequenceNode)discovery["files"];
                discovery.Children[new YamlScalarNode("files")] = new YamlSequenceNode(
                    files.Children.Select(f => new YamlScalarNode(Path.Combine(targetsDirectory, Path.GetFileName(((YamlScalarNode)f).Value!)))));
            }
        }

        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        stream.Save(writer, assignAnchors: false);
        return writer.ToString();
    }

    /// <summary>Writes a file-discovery targets file as <c>./mesh up</c> does.</summary>
    public static void WriteTargets(string path, IEnumerable<(Uri Url, IReadOnlyDictionary<string, string> Labels)> targets)
    {
        var groups = targets.Select(t => new { targets = new[] { t.Url.Authority }, labels = t.Labels });
        File.WriteAllText(path, JsonSerializer.Serialize(groups));
    }

    public static async Task<PrometheusServer> StartAsync(string directory, string config)
    {
        var configPath = Path.Combine(directory, "prometheus.yml");
        await File.WriteAllTextAsync(configPath, config);
        var port = LoopbackPorts.Unused();
        var info = new ProcessStartInfo(Binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("--config.file=" + configPath);
        info.ArgumentList.Add($"--web.listen-address=127.0.0.1:{port}");
        info.ArgumentList.Add("--storage.tsdb.path=" + Path.Combine(directory, "data"));

        var server = new PrometheusServer(new Process { StartInfo = info }, new Uri($"http://127.0.0.1:{port}"));
        server._process.OutputDataReceived += (_, e) => server.Append(e.Data);
        server._process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        server._process.Start();
        server._process.BeginOutputReadLine();
        server._process.BeginErrorReadLine();
        await server.WaitReadyAsync(TimeSpan.FromSeconds(30));
        return server;
    }

    /// <summary>Waits until Prometheus has <paramref name="count"/> active targets and every one was scraped successfully.</summary>
    public async Task WaitForTargetsUpAsync(int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var targets = (await GetDataAsync("/api/v1/targets?state=active")).GetProperty("activeTargets").EnumerateArray().ToArray();
            if (targets.Length == count && targets.All(t => t.GetProperty("health").GetString() == "up"))
            {
                return;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"Prometheus did not scrape {count} healthy targets within {timeout}:\n{Output}");
    }

    public Task<JsonElement> QueryAsync(string expression, DateTimeOffset at) =>
        GetDataAsync($"/api/v1/query?query={Uri.EscapeDataString(expression)}&time={Seconds(at)}");

    public Task<JsonElement> QueryRangeAsync(string expression, DateTimeOffset start, DateTimeOffset end, TimeSpan step) =>
        GetDataAsync($"/api/v1/query_range?query={Uri.EscapeDataString(expression)}&start={Seconds(start)}&end={Seconds(end)}&step={step.TotalSeconds.ToString(CultureInfo.InvariantCulture)}");

    /// <summary>The <c>data</c> of a successful API answer; a failed one throws with Prometheus's error.</summary>
    public async Task<JsonElement> GetDataAsync(string pathAndQuery)
    {
        using var response = await _client.GetAsync(new Uri(pathAndQuery, UriKind.Relative));
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = document.RootElement;
        if (root.GetProperty("status").GetString() != "success")
        {
            throw new PrometheusQueryException($"{root.GetProperty("errorType").GetString()}: {root.GetProperty("error").GetString()}");
        }

        return root.GetProperty("data").Clone();
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static string Seconds(DateTimeOffset at) => (at.ToUnixTimeMilliseconds() / 1000.0).ToString("0.000", CultureInfo.InvariantCulture);

    private async Task WaitReadyAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException("Prometheus exited:\n" + Output);
            }

            if (await HttpProbe.AnswersAsync(_client, "/-/ready"))
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("Prometheus not ready:\n" + Output);
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}

/// <summary>Prometheus answered an API call with an error (an invalid expression, most often).</summary>
public sealed class PrometheusQueryException(string message) : Exception(message);
