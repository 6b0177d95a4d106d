using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Mesh.Contracts;

namespace Mesh.Tests.Integration;

/// <summary>Every streaming surface over real HTTP and WebSocket, through the gateway.</summary>
[Collection(MeshFleetDefinition.Name)]
public sealed class StreamingSurfaceTests(MeshFleet fleet)
{
    private const string ThreeSentences = "The first sentence is short. The second one follows it! Is this the third?";
    private static readonly TimeSpan ReceiveTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task OpenAi_sse_streams_deltas_then_done_with_usage()
    {
        using var client = fleet.CreateGatewayClient();
        var events = await SseEvents.ReadAsync(client, "/v1/audio/speech", new { model = "tts-1", voice = "alloy", input = ThreeSentences, response_format = "pcm", stream_format = "sse" });

        var deltas = events.Where(e => e.GetProperty("type").GetString() == "speech.audio.delta").ToArray();
        Assert.True(deltas.Length > 3, $"{deltas.Length} deltas");
        var pcm = deltas.SelectMany(d => Convert.FromBase64String(d.GetProperty("audio").GetString()!)).ToArray();
        Assert.InRange(DecodedAudio.FromPcm16(pcm, OpenAiModels.PcmSampleRate).DurationSeconds, 2.0, 10.0);

        var done = events[^1];
        Assert.Equal("speech.audio.done", done.GetProperty("type").GetString());
        Assert.Equal(ThreeSentences.Length, done.GetProperty("usage").GetProperty("input_tokens").GetInt32());
        Assert.Equal(pcm.Length / 2, done.GetProperty("usage").GetProperty("output_tokens").GetInt64());
    }

    [Fact]
    public async Task Sentence_sse_sends_one_event_per_sentence_then_done()
    {
        using var client = fleet.CreateGatewayClient();
        var events = await SseEvents.ReadAsync(client, "/v1/audio/speech/stream", new { model = "tts-1", voice = "alloy", input = ThreeSentences });

        var sentences = events.Where(e => e.GetProperty("type").GetString() == StreamEvent.Sentence).ToArray();
        Assert.Equal(3, sentences.Length);
        Assert.Equal([0, 1, 2], sentences.Select(s => s.GetProperty("index").GetInt32()));
        Assert.Equal("The first sentence is short.", sentences[0].GetProperty("text").GetString());
        Assert.All(sentences, s => Assert.True(Convert.FromBase64String(s.GetProperty("audio").GetString()!).Length > 22050, "each sentence carries audio"));

        var done = events[^1];
        Assert.Equal(StreamEvent.Done, done.GetProperty("type").GetString());
        Assert.Equal(3, done.GetProperty("sentences").GetInt32());
    }

    [Fact]
    public async Task A_paragraph_with_nothing_to_speak_is_no_sentence_and_no_pause()
    {
        using var client = fleet.CreateGatewayClient();
        var events = await SseEvents.ReadAsync(client, "/v1/audio/speech/stream", new { voice = "alloy", input = "Hello.\n\n...\n\nWorld." });
        var without = await SseEvents.ReadAsync(client, "/v1/audio/speech/stream", new { voice = "alloy", input = "Hello.\n\nWorld." });

        var sentences = events.Where(e => e.GetProperty("type").GetString() == StreamEvent.Sentence).ToArray();
        Assert.Equal(["Hello.", "World."], sentences.Select(s => s.GetProperty("text").GetString()));
        Assert.Equal(2, events[^1].GetProperty("sentences").GetInt32());
        // espeak's length varies by a few milliseconds between runs of the same text.
        var duration = SentenceAudio(events).Sum(a => a.DurationSeconds);
        var expected = SentenceAudio(without).Sum(a => a.DurationSeconds);
        Assert.InRange(duration, expected - 0.05, expected + 0.05);
    }

    [Fact]
    public async Task Sentence_sse_puts_a_short_first_sentence_s_audio_in_its_own_event_at_8_kHz_and_speed_3()
    {
        // Speed 3 is beyond espeak's own, and at 8 kHz the time stretch and the resampler together hold back about as
        // much audio as "Hi." makes: that audio used to come out in the second sentence's event.
        using var client = fleet.CreateGatewayClient();
        var body = new { model = "tts-1", voice = "alloy", input = "Hi. And then a much longer second sentence follows the greeting.", sample_rate = 8000, speed = 3.0 };
        var alone = new { model = "tts-1", voice = "alloy", input = "Hi.", sample_rate = 8000, speed = 3.0 };

        var withNext = SentenceAudio(await SseEvents.ReadAsync(client, "/v1/audio/speech/stream", body))[0];
        var expected = SentenceAudio(await SseEvents.ReadAsync(client, "/v1/audio/speech/stream", alone)).Single();

        // The stretch's 30 ms windows straddle the sentence boundary, so the last 10 ms of the first sentence's event
        // (at speed 2.5 beyond espeak's own) fade in the next sentence's first sound; the rest is measured.
        var first = withNext with { Samples = withNext.Samples[..^(withNext.SampleRate / 100)] };

        // A single sentence is flushed whole, so it sounds as long as the first sentence's audio should; that one also
        // ends with the pause after a sentence, which the last sentence of a text has not.
        Assert.InRange(expected.DurationSeconds, 0.05, 1.0);
        var sounding = expected.DurationSeconds - expected.TrailingSilenceSeconds;
        Assert.InRange(first.DurationSeconds - first.TrailingSilenceSeconds, sounding - 0.02, sounding + 0.02);
        Assert.InRange(first.TrailingSilenceSeconds, 0.02, 0.2);
    }

    [Fact]
    public async Task Pcm_stream_states_its_format_in_headers()
    {
        using var client = fleet.CreateGatewayClient();
        using var response = await client.PostAsJsonAsync(
            new Uri("/v1/audio/speech/stream/pcm", UriKind.Relative), new { model = "tts-1", voice = "alloy", input = ThreeSentences });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("22050", response.Headers.GetValues(MeshHeaders.PcmSampleRate).Single());
        Assert.Equal("16", response.Headers.GetValues(MeshHeaders.PcmBitDepth).Single());
        Assert.Equal("1", response.Headers.GetValues(MeshHeaders.PcmChannels).Single());
        var audio = DecodedAudio.FromPcm16(await response.Content.ReadAsByteArrayAsync(), 22050);
        Assert.InRange(audio.DurationSeconds, 2.0, 10.0);
        Assert.True(audio.Rms > 0.02);
    }

    [Theory]
    [InlineData("/ws")]
    [InlineData("/v1/audio/speech/ws")]
    public async Task WebSocket_serves_several_requests_in_order_and_survives_bad_messages(string path)
    {
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(WebSocketUri(path), CancellationToken.None);

        var first = await SpeakAsync(socket, new { model = "tts-1", voice = "alloy", input = ThreeSentences });
        Assert.Equal(3, first.Sentences);
        Assert.InRange(first.Pcm.Length / 2.0 / 22050, 2.0, 10.0);

        await SendTextAsync(socket, "this is not json");
        var error = await ReceiveEventAsync(socket);
        Assert.Equal(StreamEvent.Failure, error.GetProperty("type").GetString());
        Assert.Equal("invalid_json", error.GetProperty("error").GetProperty("code").GetString());

        await socket.SendAsync(new byte[] { 1, 2, 3 }, WebSocketMessageType.Binary, true, CancellationToken.None);
        Assert.Equal("invalid_message", (await ReceiveEventAsync(socket)).GetProperty("error").GetProperty("code").GetString());

        await SendTextAsync(socket, """{"model":"tts-1","voice":"nobody","input":"Hi."}""");
        Assert.Equal("voice_not_found", (await ReceiveEventAsync(socket)).GetProperty("error").GetProperty("code").GetString());

        var second = await SpeakAsync(socket, new { model = "tts-1", voice = "nova", input = "Still here." });
        Assert.Equal(1, second.Sentences);
        Assert.True(second.Pcm.Length > 0);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }

    /// <summary>
    /// The gateway sends the connection's class (realtime) with the upgrade; a message asking for batch is still
    /// scheduled and counted as batch by the backend, as it is when sent to a backend directly.
    /// </summary>
    [Fact]
    public async Task A_websocket_message_may_lower_its_own_priority_to_batch()
    {
        var before = await BackendSeriesSumAsync("mesh_tts_audio_seconds_total{", "priority=\"batch\"");
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(WebSocketUri("/ws"), CancellationToken.None);

        var spoken = await SpeakAsync(socket, new { model = "tts-1", voice = "alloy", input = "A batch message.", priority = "batch" });
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);

        var seconds = spoken.Pcm.Length / 2.0 / 22050;
        Assert.Equal(seconds, await BackendSeriesSumAsync("mesh_tts_audio_seconds_total{", "priority=\"batch\"") - before, 2);
    }

    /// <summary>
    /// The gateway times each WebSocket request to its first PCM frame, as it times an HTTP response's start: two
    /// requests on one connection, one sent while the other streams, are two observations; a refused one is none.
    /// </summary>
    [Fact]
    public async Task The_gateway_times_each_websocket_request_to_its_first_audio()
    {
        const string Observations = "mesh_tts_time_to_first_audio_seconds_count{";
        var before = await GatewaySeriesSumAsync(Observations);
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(WebSocketUri("/ws"), CancellationToken.None);

        foreach (var request in new object[]
        {
            new { model = "tts-1", voice = "alloy", input = ThreeSentences },
            new { model = "tts-1", voice = "nobody", input = "Refused." },
            new { model = "tts-1", voice = "nova", input = "Second." },
        })
        {
            await SendTextAsync(socket, JsonSerializer.Serialize(request));
        }

        var ends = new List<string>();
        var framesPerRequest = new int[3];
        while (ends.Count < 3)
        {
            var (type, payload) = await ReceiveAsync(socket);
            if (type == WebSocketMessageType.Binary)
            {
                framesPerRequest[ends.Count]++;
            }
            else if (JsonDocument.Parse(payload).RootElement.GetProperty("type").GetString() is var kind && kind is StreamEvent.Done or StreamEvent.Failure)
            {
                ends.Add(kind);
            }
        }

        Assert.Equal([StreamEvent.Done, StreamEvent.Failure, StreamEvent.Done], ends);
        Assert.True(framesPerRequest[0] > 0 && framesPerRequest[1] == 0 && framesPerRequest[2] > 0, string.Join(", ", framesPerRequest));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        Assert.Equal(2, await GatewaySeriesSumAsync(Observations) - before);
    }

    [Fact]
    public async Task WebSocket_refuses_oversized_messages_with_1009()
    {
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(WebSocketUri("/ws"), CancellationToken.None);

        await SendTextAsync(socket, new string('x', 70 * 1024));
        var buffer = new byte[1024];
        var result = await socket.ReceiveAsync(buffer, CancellationToken.None);

        Assert.Equal(WebSocketMessageType.Close, result.MessageType);
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, socket.CloseStatus);
    }

    [Fact]
    public async Task A_client_that_leaves_mid_stream_is_counted_as_a_cancellation()
    {
        var before = await CancellationsAsync();
        using (var client = fleet.CreateGatewayClient())
        {
            // Tens of MB of audio (the longest input, slowed down, at 48 kHz): more than loopback's socket buffers on
            // every hop can hold, so the stream cannot finish before the client is seen to leave.
            var text = string.Join(' ', Enumerable.Repeat("This paragraph goes on for quite a while, sentence after sentence.", 60));
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech/stream/pcm")
            {
                Content = JsonContent.Create(new { model = "tts-1", voice = "alloy", input = text, speed = 0.5, sample_rate = 48000 }),
            };
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            await using var body = await response.Content.ReadAsStreamAsync();
            await body.ReadExactlyAsync(new byte[4096]);
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await CancellationsAsync() <= before && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.True(await CancellationsAsync() > before, "the backend did not count the cancelled stream");
    }

    private Uri WebSocketUri(string path) => new($"ws://{fleet.Gateway.Url.Authority}{path}");

    private async Task<double> GatewaySeriesSumAsync(string prefix)
    {
        using var client = fleet.CreateGatewayClient();
        return MetricsText.Sum(await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)), prefix);
    }

    private Task<double> CancellationsAsync() => BackendSeriesSumAsync("mesh_tts_cancellations_total{", "");

    /// <summary>The sum over the fleet's backends of the series starting with <paramref name="prefix"/> that contain <paramref name="label"/>.</summary>
    private async Task<double> BackendSeriesSumAsync(string prefix, string label)
    {
        double total = 0;
        for (var i = 0; i < fleet.Backends.Count; i++)
        {
            using var client = fleet.CreateBackendClient(i);
            total += MetricsText.Sum(await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)), prefix, label);
        }

        return total;
    }

    private static List<DecodedAudio> SentenceAudio(List<JsonElement> events) =>
    [
        .. events
            .Where(e => e.GetProperty("type").GetString() == StreamEvent.Sentence)
            .Select(e => DecodedAudio.FromPcm16(Convert.FromBase64String(e.GetProperty("audio").GetString()!), e.GetProperty("sample_rate").GetInt32())),
    ];

    private static async Task<(int Sentences, byte[] Pcm)> SpeakAsync(ClientWebSocket socket, object request)
    {
        await SendTextAsync(socket, JsonSerializer.Serialize(request));
        var start = await ReceiveEventAsync(socket);
        Assert.Equal(StreamEvent.Start, start.GetProperty("type").GetString());
        Assert.Equal(22050, start.GetProperty("sample_rate").GetInt32());

        var pcm = new List<byte>();
        var sentences = 0;
        while (true)
        {
            var (type, payload) = await ReceiveAsync(socket);
            if (type == WebSocketMessageType.Binary)
            {
                Assert.True(sentences > 0, "audio arrives after its sentence event");
                pcm.AddRange(payload);
                continue;
            }

            using var document = JsonDocument.Parse(payload);
            var kind = document.RootElement.GetProperty("type").GetString();
            if (kind == StreamEvent.Sentence)
            {
                sentences++;
            }
            else
            {
                Assert.Equal(StreamEvent.Done, kind);
                Assert.Equal(sentences, document.RootElement.GetProperty("sentences").GetInt32());
                return (sentences, pcm.ToArray());
            }
        }
    }

    private static Task<JsonElement> ReceiveEventAsync(ClientWebSocket socket) =>
        WebSocketMessages.ReceiveEventAsync(socket, ReceiveTimeout);

    private static Task<(WebSocketMessageType Type, byte[] Payload)> ReceiveAsync(ClientWebSocket socket) =>
        WebSocketMessages.ReceiveAsync(socket, ReceiveTimeout);

    private static Task SendTextAsync(ClientWebSocket socket, string text) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);
}
