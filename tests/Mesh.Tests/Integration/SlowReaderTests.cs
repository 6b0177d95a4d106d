using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Xunit.Abstractions;

namespace Mesh.Tests.Integration;

/// <summary>
/// A client that stops reading a long stream, through a real gateway and backend: the backend synthesizes only as far as
/// the buffers between them hold, sends the rest once the client reads again, and stops when the client leaves.
/// </summary>
public sealed class SlowReaderTests(SoloFleet fleet, ITestOutputHelper output) : IClassFixture<SoloFleet>
{
    // Of the text's 55 sentences, 52 (raw audio) and 37 (SSE) were made for a client that had read nothing while Linux
    // grew each hop's socket buffers to megabytes. Now 10 and 7: the pipeline's own three (the one written and its
    // lookahead of two) and what the capped buffers hold, about 1.5 MB in all.
    private const int MaxSentencesAhead = 16;
    private const string Sentences = "mesh_tts_sentence_synthesis_seconds_count{";
    private static readonly TimeSpan Stall = TimeSpan.FromSeconds(3);
    private static readonly string LongText = CorpusText(4096);

    private HostProcess Backend => fleet.Backend;

    private HostProcess Gateway => fleet.Gateway;

    [Fact]
    public async Task A_raw_audio_stream_is_synthesized_only_a_little_ahead_of_a_stalled_reader_and_arrives_whole()
    {
        var body = new { model = "tts-1", voice = "en-us", input = LongText, response_format = "pcm", stream_format = "audio" };
        long unstalled;
        using (var reading = new HttpClient { BaseAddress = Gateway.Url })
        {
            unstalled = await ReadAllAsync(await PostAsync(reading, body));
        }

        // A connection of its own: the one that read the whole stream at once has a receive window the client's kernel
        // grew to megabytes, which a stalled reader fills from the gateway's buffers whatever their size.
        using var client = new HttpClient { BaseAddress = Gateway.Url };
        var before = await BackendSumAsync(Sentences);
        using var response = await PostAsync(client, body);
        await Task.Delay(Stall);
        var synthesized = await BackendSumAsync(Sentences) - before;
        var stalled = await ReadAllAsync(response);

        output.WriteLine($"{synthesized} sentences synthesized for a reader stalled {Stall.TotalSeconds} s; {stalled} bytes after it, {unstalled} unstalled");
        Assert.InRange(synthesized, 1, MaxSentencesAhead);
        // espeak-ng ends voiced sounds a few samples apart from one request to the next (README, Models).
        Assert.Equal(0, stalled % 2);
        Assert.InRange(stalled, unstalled * 0.995, unstalled * 1.005);
    }

    [Fact]
    public async Task An_sse_stream_is_synthesized_only_a_little_ahead_of_a_stalled_reader_and_arrives_whole()
    {
        using var client = new HttpClient { BaseAddress = Gateway.Url };
        var before = await BackendSumAsync(Sentences);
        using var response = await PostAsync(client, new { model = "tts-1", voice = "alloy", input = LongText, response_format = "pcm", stream_format = "sse" });
        await Task.Delay(Stall);
        var synthesized = await BackendSumAsync(Sentences) - before;

        long pcmBytes = 0;
        JsonElement last = default;
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                last = JsonDocument.Parse(line["data: ".Length..]).RootElement;
                pcmBytes += last.TryGetProperty("audio", out var audio) ? Convert.FromBase64String(audio.GetString()!).Length : 0;
            }
        }

        output.WriteLine($"{synthesized} sentences synthesized for a reader stalled {Stall.TotalSeconds} s; then {pcmBytes} bytes of PCM");
        Assert.InRange(synthesized, 1, MaxSentencesAhead);
        Assert.Equal("speech.audio.done", last.GetProperty("type").GetString());
        Assert.Equal(last.GetProperty("usage").GetProperty("output_tokens").GetInt64() * 2, pcmBytes);
    }

    [Fact]
    public async Task A_stalled_reader_that_leaves_frees_the_engine()
    {
        using var client = new HttpClient { BaseAddress = Gateway.Url };
        var cancelled = await BackendSumAsync("mesh_tts_cancellations_total{");
        var before = await BackendSumAsync(Sentences);
        using (await PostAsync(client, new { model = "tts-1", voice = "alloy", input = LongText, stream_format = "audio", response_format = "pcm" }))
        {
            await Task.Delay(Stall);
        }

        await Eventually.UntilAsync(async () => await BackendSumAsync("mesh_tts_cancellations_total{") > cancelled, "the backend did not see the client leave");
        var atCancel = await BackendSumAsync(Sentences);
        await Task.Delay(TimeSpan.FromSeconds(1));

        output.WriteLine($"{atCancel - before} sentences synthesized before the stalled client left");
        Assert.Equal(atCancel, await BackendSumAsync(Sentences));
        Assert.Equal(0, await BackendSumAsync("mesh_queue_depth{"));
        using var next = await client.PostAsJsonAsync(new Uri("/v1/audio/speech", UriKind.Relative), new { model = "tts-1", voice = "alloy", input = "Next.", response_format = "wav" });
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech") { Content = JsonContent.Create(body) };
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response;
    }

    /// <summary>Reads the body to its end; a cut transfer throws.</summary>
    private static async Task<long> ReadAllAsync(HttpResponseMessage response)
    {
        using (response)
        {
            await using var body = await response.Content.ReadAsStreamAsync();
            var buffer = new byte[64 * 1024];
            long total = 0;
            int read;
            while ((read = await body.ReadAsync(buffer)) > 0)
            {
                total += read;
            }

            return total;
        }
    }

    /// <summary>The sum of a host's series whose text starts with <paramref name="prefix"/>.</summary>
    internal static async Task<double> MetricSumAsync(HostProcess host, string prefix, string label = "")
    {
        using var client = new HttpClient { BaseAddress = host.Url };
        return MetricsText.Sum(await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)), prefix, label);
    }

    private Task<double> BackendSumAsync(string prefix) => MetricSumAsync(Backend, prefix);

    /// <summary>The corpus's paragraphs, repeated, up to <paramref name="length"/> characters: minutes of audio.</summary>
    internal static string CorpusText(int length)
    {
        var paragraphs = File.ReadAllLines(Path.Combine(RepoPaths.Root, "corpus", "paragraphs-en.txt")).Where(line => line.Length > 0).ToArray();
        var text = paragraphs[0];
        for (var i = 1; text.Length + 1 + paragraphs[i % paragraphs.Length].Length <= length; i++)
        {
            text += " " + paragraphs[i % paragraphs.Length];
        }

        return text;
    }
}
