using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.Tests.Integration;

/// <summary>
/// The benchmark tool run as a process (<c>ttfa</c> and <c>resampler</c> behind <c>./mesh bench pipeline</c>, <c>load</c>):
/// a bad option or a failing target ends it with one line that says why and an exit code, never a stack trace.
/// </summary>
public sealed class BenchToolTests
{
    [Theory]
    [InlineData("--repeats must be a whole number of at least 1, not 'ten'", "ttfa", "--target", "http://127.0.0.1:9/", "--repeats", "ten")]
    [InlineData("--repeats must be a whole number of at least 1, not '0'", "ttfa", "--target", "http://127.0.0.1:9/", "--repeats", "0")]
    [InlineData("--target must be an http(s) URL", "ttfa", "--target", "localhost:8080")]
    [InlineData("--target URL is required", "ttfa", "--repeats", "3")]
    [InlineData("--seconds must be a number above 0, not 'abc'", "resampler", "--seconds", "abc")]
    [InlineData("--repeats must be a whole number of at least 1, not '2.5'", "resampler", "--repeats", "2.5")]
    [InlineData("--timeout is in seconds, at most 86400 (a day)", "load", "--target", "http://127.0.0.1:9/", "--timeout", "99999999")]
    public async Task A_bad_option_value_is_named_and_exits_2(string message, params string[] args)
    {
        var (exitCode, output) = await RunBenchAsync(args);

        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
        Assert.Contains($"{args[0]}: {message}", output, StringComparison.Ordinal);
        Assert.Equal(2, exitCode);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    public async Task Help_prints_the_load_usage_and_exits_0(string help)
    {
        var (exitCode, output) = await RunBenchAsync("load", "--profile", "quick", help);

        Assert.StartsWith("usage: Mesh.Bench load", output.Trim(), StringComparison.Ordinal);
        Assert.Equal(0, exitCode);
    }

    [Fact]
    public async Task Ttfa_against_a_target_that_is_down_says_so_and_exits_1()
    {
        using var down = new ClosedPort();
        var target = down.Url.ToString();

        var (exitCode, output) = await RunBenchAsync("ttfa", "--target", target, "--repeats", "1");

        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
        Assert.Contains($"ttfa: {target}: Connection refused", output, StringComparison.Ordinal);
        Assert.Equal(1, exitCode);
    }

    [Fact]
    public async Task Ttfa_against_a_target_that_refuses_shows_the_servers_message_and_exits_1()
    {
        // A real gateway whose only backend is not running answers every speech request with an error envelope.
        using var deadBackend = new ClosedPort();
        await using var gateway = await MeshFleet.StartGatewayAsync([deadBackend.Url]);

        var (exitCode, output) = await RunBenchAsync("ttfa", "--target", gateway.Url.ToString(), "--repeats", "1");

        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
        Assert.Matches(@"ttfa: http://127\.0\.0\.1:\d+/: HTTP 5\d\d: \S", output);
        Assert.Equal(1, exitCode);
    }

    [Fact]
    public async Task Ttfa_sends_its_pairs_in_abba_order_with_a_pause_before_each_request()
    {
        await using var server = await RecordingSpeechServer.StartAsync();

        var (exitCode, output) = await RunBenchAsync("ttfa", "--target", server.Url.ToString(), "--repeats", "4");

        Assert.True(exitCode == 0, output);
        var requests = server.Requests;
        // One untimed round, then ABBA pairs: each text follows each text equally often, so the order cannot decide the ratio.
        Assert.Equal([3, 36, 3, 36, 36, 3, 3, 36, 36, 3], requests.Select(r => r.Sentences));
        var gapsMs = requests.Skip(2).Zip(requests.Skip(1), (next, previous) => (next.ArrivedAt - previous.ArrivedAt).TotalMilliseconds).ToArray();
        Assert.All(gapsMs, gap => Assert.True(gap >= 95, $"timed requests arrived {string.Join(", ", gapsMs.Select(g => $"{g:0.0}"))} ms apart"));
    }

    [Theory]
    [InlineData("tts/")]
    [InlineData("tts")]
    public async Task Ttfa_keeps_the_path_prefix_of_its_target(string prefix)
    {
        await using var server = await RecordingSpeechServer.StartAsync();

        var (exitCode, output) = await RunBenchAsync("ttfa", "--target", new Uri(server.Url, prefix).ToString(), "--repeats", "1");

        Assert.True(exitCode == 0, output);
        Assert.NotEmpty(server.Requests);
        Assert.All(server.Requests, request => Assert.Equal("/tts/v1/audio/speech/stream/pcm", request.Path));
    }

    [Fact]
    public async Task Load_with_a_corpus_folder_that_does_not_exist_names_it_and_exits_2()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"no-corpus-{Guid.NewGuid():N}");

        var (exitCode, output) = await RunBenchAsync(
            "load", "--profile", "smoke", "--target", $"http://127.0.0.1:{LoopbackPorts.Unused()}/", "--corpus", missing, "--out", Path.Combine(missing, "out"));

        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
        Assert.Contains($"load: corpus {missing}: ", output, StringComparison.Ordinal);
        Assert.Equal(2, exitCode);
        Assert.False(Directory.Exists(missing), "nothing is written for a run that cannot start");
    }

    private static Task<(int ExitCode, string Output)> RunBenchAsync(params string[] args) =>
        DotnetProcess.RunToExitAsync([RepoPaths.BenchDll, .. args], TimeSpan.FromSeconds(60));

    /// <summary>
    /// Answers every POST with a little PCM, as a backend's PCM stream does, and keeps what each request asked for: its
    /// path, how many sentences its text had, and when it arrived.
    /// </summary>
    private sealed class RecordingSpeechServer : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly List<ReceivedRequest> _requests = [];
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        private RecordingSpeechServer(WebApplication app) => _app = app;

        public Uri Url { get; private set; } = null!;

        public IReadOnlyList<ReceivedRequest> Requests
        {
            get
            {
                lock (_requests)
                {
                    return [.. _requests];
                }
            }
        }

        public static async Task<RecordingSpeechServer> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            var server = new RecordingSpeechServer(builder.Build());
            server._app.Run(server.AnswerAsync);
            await server._app.StartAsync();
            server.Url = new Uri(server._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single() + "/");
            return server;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        private async Task AnswerAsync(HttpContext context)
        {
            var arrivedAt = _clock.Elapsed;
            using var body = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
            var sentences = body.RootElement.GetProperty("input").GetString()!.Count(c => c == '.');
            lock (_requests)
            {
                _requests.Add(new ReceivedRequest(context.Request.Path, sentences, arrivedAt));
            }

            context.Response.ContentType = "application/octet-stream";
            context.Response.Headers["X-PCM-Sample-Rate"] = "24000";
            await context.Response.Body.WriteAsync(new byte[960], context.RequestAborted);
        }
    }

    private sealed record ReceivedRequest(string Path, int Sentences, TimeSpan ArrivedAt);
}
