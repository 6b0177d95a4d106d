using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Mesh.Bench.Load;

namespace Mesh.Bench;

/// <summary>
/// Time to first audio for 3 and for 36 sentences over the PCM stream of a running mesh, in ABBA pairs with a pause
/// before each request as the load benchmark's length comparison sends them (<see cref="LengthPairs"/>), so neither
/// machine drift nor the request before decides the ratio. With pipelined synthesis the ratio of medians should stay near 1.
/// Options: <c>--target URL</c> (required; a path prefix such as <c>https://host/tts/</c> is kept), <c>--repeats N</c>
/// (15), <c>--json PATH</c>; the API key, where the target has keys, from <c>MESH_API_KEY</c>.
/// </summary>
internal static class TtfaBenchmark
{
    private const string Paragraph = "The harbour was quiet before dawn. A gull landed on the railing. By six the boats were out.";
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static async Task<int> RunAsync(string[] args)
    {
        if (BenchArguments.Parse("ttfa", args, ("--target", "URL"), ("--repeats", "N"), ("--json", "PATH")) is not { } options
            || options.HttpUrl("--target") is not { } target
            || options.PositiveInteger("--repeats", 15) is not { } repeats)
        {
            return 2;
        }

        try
        {
            return await MeasureAsync(target, repeats, options.Text("--json"));
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or InvalidDataException or TaskCanceledException)
        {
            // A target that is down, refuses the request or breaks the stream measured nothing: say why, in one line.
            Console.Error.WriteLine($"ttfa: {target}: {ex.Message}");
            return 1;
        }
    }

    private static async Task<int> MeasureAsync(Uri target, int repeats, string? jsonPath)
    {
        using var client = new HttpClient
        {
            // As the load client resolves it: the API paths below are relative, so a path prefix of the target stays.
            BaseAddress = new Target("ttfa", target).BaseUrl,
            Timeout = TimeSpan.FromMinutes(2),
            DefaultRequestHeaders = { Authorization = RequestDefaults.Bearer(RequestDefaults.ApiKeyFromEnvironment()) },
        };
        var three = Paragraph;
        var thirtySix = string.Join(' ', Enumerable.Repeat(Paragraph, 12));

        // One untimed round warms connections and code paths.
        await TimeToFirstAudioAsync(client, three);
        await TimeToFirstAudioAsync(client, thirtySix);
        var shortTimes = new List<double>();
        var longTimes = new List<double>();
        for (var pair = 0; pair < repeats; pair++)
        {
            foreach (var (text, times) in LengthPairs.InOrder(pair, (three, shortTimes), (thirtySix, longTimes)))
            {
                await Task.Delay(LengthPairs.Pause);
                times.Add(await TimeToFirstAudioAsync(client, text));
            }
        }

        var result = TtfaReport.Of(target, shortTimes, longTimes);
        Console.WriteLine($"TTFA over {target} (PCM stream, {repeats} ABBA pairs)");
        Console.WriteLine($"  3 sentences   median {result.ShortP50,7:0.0} ms   p90 {result.ShortP90,7:0.0} ms");
        Console.WriteLine($"  36 sentences  median {result.LongP50,7:0.0} ms   p90 {result.LongP90,7:0.0} ms");
        Console.WriteLine($"  ratio of medians (36 / 3): {result.LengthRatio:0.00} (goal <= 1.10)");
        if (jsonPath is not null)
        {
            await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(result, JsonOptions));
        }

        return 0;
    }

    /// <summary>Milliseconds from sending the request to the first audio byte of the response body.</summary>
    private static async Task<double> TimeToFirstAudioAsync(HttpClient client, string text)
    {
        var stopwatch = Stopwatch.StartNew();
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/audio/speech/stream/pcm")
        {
            Content = JsonContent.Create(new { voice = "alloy", input = text }),
        };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException(await SpeechClient.ErrorReasonAsync(response, CancellationToken.None), null, response.StatusCode);
        }

        await using var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[4096];
        var read = await body.ReadAsync(buffer);
        var elapsed = stopwatch.Elapsed.TotalMilliseconds;
        if (read == 0)
        {
            throw new InvalidDataException("the stream ended without audio");
        }

        // Drain the rest so the next request does not compete with this one's tail.
        while (await body.ReadAsync(buffer) > 0)
        {
        }

        return elapsed;
    }
}

/// <summary>
/// What <c>ttfa</c> prints and writes: each arm's median and p90, interpolated between closest ranks like every other
/// figure of the benchmarks, and the ratio of the medians.
/// </summary>
public sealed record TtfaReport(
    [property: JsonPropertyName("target")] string Target,
    [property: JsonPropertyName("repeats")] int Repeats,
    [property: JsonPropertyName("ttfa_ms_3_sentences_p50")] double ShortP50,
    [property: JsonPropertyName("ttfa_ms_3_sentences_p90")] double ShortP90,
    [property: JsonPropertyName("ttfa_ms_36_sentences_p50")] double LongP50,
    [property: JsonPropertyName("ttfa_ms_36_sentences_p90")] double LongP90)
{
    [JsonPropertyName("ttfa_length_ratio")]
    public double LengthRatio => LongP50 / ShortP50;

    /// <param name="shortTimes">Milliseconds to first audio of the 3-sentence text, one per pair.</param>
    /// <param name="longTimes">The same for the 36-sentence text.</param>
    public static TtfaReport Of(Uri target, IReadOnlyList<double> shortTimes, IReadOnlyList<double> longTimes) => new(
        target.ToString(),
        shortTimes.Count,
        Statistics.Percentile(shortTimes, 0.5),
        Statistics.Percentile(shortTimes, 0.9),
        Statistics.Percentile(longTimes, 0.5),
        Statistics.Percentile(longTimes, 0.9));
}
