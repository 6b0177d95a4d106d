using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Mesh.Contracts;
using Mesh.Tests.Backend;
using Mesh.Tests.Contracts;
using Mesh.Tests.Reliability;

namespace Mesh.Tests.Integration;

[Collection(MeshFleetDefinition.Name)]
public sealed class SpeechThroughGatewayTests(MeshFleet fleet)
{
    private const string Fox = "The quick brown fox jumps over the lazy dog.";

    [Fact]
    public async Task Wav_through_the_gateway_is_speech()
    {
        using var client = fleet.CreateGatewayClient();
        using var response = await PostSpeechAsync(client, new { model = "tts-1", voice = "alloy", input = Fox, response_format = "wav" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("audio/wav", response.Content.Headers.ContentType?.MediaType);
        var wav = await response.Content.ReadAsByteArrayAsync();
        var audio = DecodedAudio.FromWav(wav);

        Assert.Equal(22050, audio.SampleRate);
        Assert.InRange(audio.DurationSeconds, 1.0, 8.0);
        Assert.InRange(audio.Rms, 0.02, 0.7);
        // Words with pauses between them: neither silence, nor a steady tone or noise.
        Assert.InRange(audio.ActiveFrameRatio, 0.4, 0.97);
        Assert.True(audio.LoudnessSpreadDb > 3, $"loudness spread {audio.LoudnessSpreadDb:0.0} dB is too flat for speech");
        Assert.InRange(await DecodedAudio.FfprobeDurationAsync(wav, "wav"), audio.DurationSeconds * 0.98, audio.DurationSeconds * 1.02);
    }

    [Fact]
    public async Task Longer_text_gives_longer_audio()
    {
        using var client = fleet.CreateGatewayClient();
        var shortAudio = await SynthesizePcmAsync(client, "Hello.");
        var longAudio = await SynthesizePcmAsync(client, Fox + " " + Fox);

        Assert.True(longAudio.DurationSeconds > shortAudio.DurationSeconds * 3,
            $"{longAudio.DurationSeconds:0.00}s for two sentences vs {shortAudio.DurationSeconds:0.00}s for one word");
    }

    [Fact]
    public async Task Sentences_are_apart_by_espeaks_sentence_pause_and_the_audio_ends_without_it()
    {
        using var client = fleet.CreateGatewayClient();
        var audio = await SynthesizePcmAsync(client, "Hi. Hello world.");

        // espeak-ng pauses about 300 ms after a sentence at the normal rate, the words of one sentence far less.
        Assert.InRange(audio.LongestPauseSeconds, 0.25, 0.45);
        Assert.InRange(audio.TrailingSilenceSeconds, 0.0, 0.1);
    }

    [Theory]
    [MemberData(nameof(SpeechRequestParserTests.OtherLineBreaks), MemberType = typeof(SpeechRequestParserTests))]
    public async Task Every_kind_of_line_break_in_input_is_spoken_as_a_line_feed_is(string lineBreak)
    {
        using var client = fleet.CreateGatewayClient();
        var lineFeed = await SynthesizePcmAsync(client, "Page one ends here.\nPage two begins.");
        var other = await SynthesizePcmAsync(client, $"Page one ends here.{lineBreak}Page two begins.");

        // espeak's own length varies by a few milliseconds between runs of the same text.
        Assert.InRange(other.DurationSeconds, lineFeed.DurationSeconds - 0.05, lineFeed.DurationSeconds + 0.05);
        Assert.InRange(other.LongestPauseSeconds, 0.25, 0.45);
    }

    /// <remarks>
    /// OpenAI's <c>pcm</c> is always 24 kHz and its SDKs cannot send <c>sample_rate</c>, so under OpenAI's names (and
    /// their snapshots) it is 24 kHz here too; under the model's own id it is the model's rate.
    /// </remarks>
    [Theory]
    [InlineData("tts-1", 24000)]
    [InlineData("tts-1-hd", 24000)]
    [InlineData("gpt-4o-mini-tts", 24000)]
    [InlineData("gpt-4o-mini-tts-2025-12-15", 24000)]
    [InlineData("espeak", 22050)]
    public async Task Pcm_is_headerless_s16le_at_the_stated_rate(string model, int rate)
    {
        using var client = fleet.CreateGatewayClient();
        using var response = await PostSpeechAsync(client, new { model, voice = "echo", input = Fox, response_format = "pcm" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(rate.ToString(CultureInfo.InvariantCulture), Assert.Single(response.Headers.GetValues(MeshHeaders.PcmSampleRate)));
        var pcm = await response.Content.ReadAsByteArrayAsync();
        Assert.NotEqual("RIFF", Encoding.ASCII.GetString(pcm, 0, 4));
        Assert.Equal(0, pcm.Length % 2);
        var audio = DecodedAudio.FromPcm16(pcm, rate);
        Assert.InRange(audio.DurationSeconds, 1.0, 8.0);
        Assert.InRange(audio.Rms, 0.02, 0.7);
    }

    /// <remarks>
    /// Raw pcm carries no rate, so <c>/v1/models</c> states the one it comes at under each id, from the gateway as from a
    /// backend, and a snapshot retrieved under its own id states its name's.
    /// </remarks>
    [Fact]
    public async Task Each_model_entry_states_the_rate_its_pcm_comes_at()
    {
        using var gateway = fleet.CreateGatewayClient();
        using var backend = fleet.CreateBackendClient(0);

        foreach (var client in new[] { gateway, backend })
        {
            using var listed = JsonDocument.Parse(await client.GetStringAsync(new Uri("/v1/models", UriKind.Relative)));
            var stated = listed.RootElement.GetProperty("data").EnumerateArray()
                .ToDictionary(m => m.GetProperty("id").GetString()!, m => m.GetProperty("pcm_sample_rate").GetInt32());
            using var snapshot = JsonDocument.Parse(await client.GetStringAsync(new Uri("/v1/models/gpt-4o-mini-tts-2025-12-15", UriKind.Relative)));
            stated.Add("gpt-4o-mini-tts-2025-12-15", snapshot.RootElement.GetProperty("pcm_sample_rate").GetInt32());

            Assert.Equal((24000, 22050, 24000), (stated["tts-1"], stated["espeak"], stated["gpt-4o-mini-tts-2025-12-15"]));
            foreach (var (model, rate) in stated)
            {
                using var response = await PostSpeechAsync(client, new { model, voice = "echo", input = "Hi.", response_format = "pcm" });
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal(rate.ToString(CultureInfo.InvariantCulture), Assert.Single(response.Headers.GetValues(MeshHeaders.PcmSampleRate)));
            }
        }
    }

    [Fact]
    public async Task The_raw_pcm_stream_holds_a_sample_rate_to_pcm_not_to_the_response_format_it_ignores()
    {
        using var client = fleet.CreateGatewayClient();
        // Opus cannot carry 22050 Hz, which /v1/audio/speech refuses with opus; this surface sends PCM whatever the format.
        using var response = await client.PostAsync(
            new Uri("/v1/audio/speech/stream/pcm", UriKind.Relative),
            JsonContent.Create(new { voice = "alloy", input = Fox, response_format = "opus", sample_rate = 22050 }, options: JsonSerializerOptions.Web));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("22050", Assert.Single(response.Headers.GetValues(MeshHeaders.PcmSampleRate)));
        Assert.InRange(DecodedAudio.FromPcm16(await response.Content.ReadAsByteArrayAsync(), 22050).DurationSeconds, 1.0, 8.0);
    }

    [Fact]
    public async Task Responses_carry_request_id_and_backend()
    {
        using var client = fleet.CreateGatewayClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech")
        {
            Content = JsonContent.Create(new { model = "tts-1", voice = "alloy", input = "Hi.", response_format = "pcm" }),
        };
        request.Headers.Add(MeshHeaders.RequestId, "trace-123");
        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("trace-123", Assert.Single(response.Headers.GetValues(MeshHeaders.RequestId)));
        Assert.StartsWith("test-b", Assert.Single(response.Headers.GetValues(MeshHeaders.Backend)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Requests_are_spread_over_both_backends()
    {
        using var client = fleet.CreateGatewayClient();
        // Earlier tests may have left a backend's last reported load high; the next /readyz probes (every 2 s) refresh it.
        await GatewayProbes.UntilEveryBackendReadsAsync(client, "mesh_backend_load", 0, backends: 2);
        var backends = new HashSet<string>();
        for (var i = 0; i < 30 && backends.Count < 2; i++)
        {
            using var response = await PostSpeechAsync(client, new { model = "tts-1", voice = "alloy", input = "Hi.", response_format = "pcm" });
            backends.Add(response.Headers.GetValues(MeshHeaders.Backend).Single());
        }

        Assert.Equal(2, backends.Count);
    }

    public static TheoryData<string, HttpStatusCode, string?> BadRequests => new()
    {
        { """{"model":"tts-1","voice":"alloy","input":""}""", HttpStatusCode.BadRequest, "input" },
        { """{"model":"tts-1","voice":"alloy","input":"   "}""", HttpStatusCode.BadRequest, "input" },
        { """{"model":"tts-1","voice":"alloy"}""", HttpStatusCode.BadRequest, "input" },
        { $$"""{"model":"tts-1","voice":"alloy","input":"{{new string('a', 4097)}}"}""", HttpStatusCode.BadRequest, "input" },
        { """{"model":"tts-1","voice":"alloy","input":42}""", HttpStatusCode.BadRequest, "input" },
        { """{"model":"tts-1","voice":"alloy","input":"hi","speed":9}""", HttpStatusCode.BadRequest, "speed" },
        { """{"model":"tts-1","voice":"alloy","input":"hi","response_format":"ogg"}""", HttpStatusCode.BadRequest, "response_format" },
        { """{"model":"tts-1","voice":"nobody","input":"hi"}""", HttpStatusCode.NotFound, "voice" },
        { """{"model":"tts-1","voice":"../../etc/passwd","input":"hi"}""", HttpStatusCode.NotFound, "voice" },
        { """{"model":"tts-9","voice":"alloy","input":"hi"}""", HttpStatusCode.NotFound, "model" },
        { """{"model":"tts-1",""", HttpStatusCode.BadRequest, null },
        { """{"voice":"alloy","input":"hi"}""", HttpStatusCode.BadRequest, "model" },
        { """[1,2,3]""", HttpStatusCode.BadRequest, null },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task Bad_input_gets_the_precise_status_and_the_envelope(string body, HttpStatusCode status, string? param)
    {
        using var client = fleet.CreateGatewayClient();
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await client.PostAsync(new Uri("/v1/audio/speech", UriKind.Relative), content);

        Assert.Equal(status, response.StatusCode);
        var envelope = await response.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope);
        Assert.NotNull(envelope);
        Assert.False(string.IsNullOrWhiteSpace(envelope.Error.Message));
        Assert.Equal(param, envelope.Error.Param);
    }

    [Theory]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("application/json; charset=UTF-8")]
    [InlineData("application/json;charset=\"utf-8\"")]
    [InlineData("application/json; charset=utf8")]
    [InlineData("application/json")]
    public async Task A_body_declared_as_utf8_in_any_spelling_is_read(string contentType)
    {
        using var client = fleet.CreateGatewayClient();
        using var content = new ByteArrayContent("""{"model":"tts-1","voice":"alloy","input":"Hi.","response_format":"pcm"}"""u8.ToArray());
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        using var response = await client.PostAsync(new Uri("/v1/audio/speech", UriKind.Relative), content);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <remarks>What espeak reads as nothing: its answer would be a few milliseconds of silence.</remarks>
    [Theory]
    [MemberData(nameof(SentenceSplitterTests.MarksEspeakReadsAsNothing), MemberType = typeof(SentenceSplitterTests))]
    public async Task Input_of_marks_espeak_reads_as_nothing_is_refused_as_nothing_to_speak(string input)
    {
        using var client = fleet.CreateGatewayClient();
        using var response = await PostSpeechAsync(client, new { model = "tts-1", voice = "alloy", input, response_format = "pcm" });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = ErrorEnvelopeAssert.IsEnvelope(await response.Content.ReadAsStringAsync());
        Assert.Equal("input", error.GetProperty("param").GetString());
        Assert.Equal("nothing_to_speak", error.GetProperty("code").GetString());
    }

    /// <remarks>The counterpart of the marks refused as nothing to speak: what espeak reads out is not refused.</remarks>
    [Theory]
    [InlineData("5")]
    [InlineData("%")]
    [InlineData("$")]
    [InlineData("&")]
    [InlineData("*")]
    [InlineData("/")]
    [InlineData("=")]
    [InlineData("§")]
    [InlineData("ok.")]
    [InlineData("😀")]
    public async Task A_lone_digit_symbol_or_word_is_spoken(string input)
    {
        using var client = fleet.CreateGatewayClient();
        var audio = await SynthesizePcmAsync(client, input);

        Assert.InRange(audio.DurationSeconds, 0.1, 3.0);
        Assert.True(audio.ActiveFrameRatio > 0.3, $"'{input}': {audio.ActiveFrameRatio:P0} of the frames sound");
    }

    [Fact]
    public async Task Input_of_exactly_4096_characters_is_accepted()
    {
        using var client = fleet.CreateGatewayClient();
        var input = string.Concat(Enumerable.Repeat("Go. ", 1024));
        using var response = await PostSpeechAsync(client, new { model = "tts-1", voice = "alloy", input, response_format = "pcm" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Both_processes_answer_health_and_readiness()
    {
        foreach (var url in new[] { fleet.Gateway.Url }.Concat(fleet.Backends.Select(b => b.Url)))
        {
            using var client = new HttpClient { BaseAddress = url };
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/readyz", UriKind.Relative))).StatusCode);
        }
    }

    [Fact]
    public async Task Voices_list_openai_names_and_espeak_languages()
    {
        using var client = fleet.CreateGatewayClient();
        var voices = await client.GetFromJsonAsync(new Uri("/v1/audio/voices", UriKind.Relative), ContractsJsonContext.Default.VoiceList);

        Assert.NotNull(voices);
        var ids = voices.Voices.Select(v => v.Id).ToHashSet();
        Assert.Contains("alloy", ids);
        Assert.Contains("shimmer", ids);
        Assert.Contains("en-gb", ids);
    }

    [Fact]
    public async Task An_unknown_model_or_voice_is_answered_with_what_is_served()
    {
        using var client = fleet.CreateGatewayClient();
        var models = await client.GetFromJsonAsync(new Uri("/v1/models", UriKind.Relative), ContractsJsonContext.Default.ModelList);
        var voices = await client.GetFromJsonAsync(new Uri("/v1/audio/voices", UriKind.Relative), ContractsJsonContext.Default.VoiceList);
        Assert.NotNull(models);
        Assert.NotNull(voices);

        var unknownModel = await ErrorMessageAsync(await PostSpeechAsync(client, new { model = "tts-9", voice = "alloy", input = Fox }));
        var unlisted = await ErrorMessageAsync(await client.GetAsync(new Uri("/v1/models/tts-9", UriKind.Relative)));
        var unknownVoice = await ErrorMessageAsync(await PostSpeechAsync(client, new { model = "tts-1", voice = "alloy2", input = Fox }));

        Assert.All(models.Data, model => Assert.Contains(model.Id, unknownModel, StringComparison.Ordinal));
        Assert.All(models.Data, model => Assert.Contains(model.Id, unlisted, StringComparison.Ordinal));
        // espeak has over a hundred voices: the message names the first of them, OpenAI's names, and how many there are.
        Assert.Contains($"{voices.Voices.Count} voices: alloy, ash, ballad, coral, echo, fable, onyx, nova, sage, shimmer, verse", unknownVoice, StringComparison.Ordinal);
        Assert.Contains("GET /v1/audio/voices", unknownVoice, StringComparison.Ordinal);
    }

    /// <remarks>
    /// espeak has <c>en-us</c> and <c>de</c> but neither <c>en</c> nor <c>de-DE</c>: the tag is looked up, broader or
    /// narrower, as a client sends it, and a country finds its region (<c>es-MX</c> Latin America's <c>es-419</c>); a
    /// voice answers to every language its espeak voice file names (Mandarin's <c>zh</c>, so <c>zh-CN</c> finds it too,
    /// Norwegian Bokmål's <c>no</c>); a tag no language answers is the same 404 as a language espeak has not.
    /// </remarks>
    [Theory]
    [InlineData("alloy", "en")]
    [InlineData("de", "de-DE")]
    [InlineData("nova", "DE-de")]
    [InlineData("alloy", "en-AU")]
    [InlineData("en-gb-scotland", "en-GB")]
    [InlineData("es-419", "es-MX")]
    [InlineData("alloy", "zh")]
    [InlineData("alloy", "zh-CN")]
    [InlineData("nova", "zh-Hans-CN")]
    [InlineData("alloy", "no")]
    public async Task A_backend_looks_a_language_tag_up_among_its_languages(string voice, string language)
    {
        using var client = fleet.CreateBackendClient(0);
        using var response = await PostSpeechAsync(client, new { model = "tts-1", voice, language, input = Fox, response_format = "wav" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.InRange(DecodedAudio.FromWav(await response.Content.ReadAsByteArrayAsync()).DurationSeconds, 1.0, 8.0);
    }

    [Fact]
    public async Task A_backend_answers_a_language_tag_it_cannot_look_up_with_404_naming_the_language()
    {
        using var client = fleet.CreateBackendClient(0);
        using var response = await PostSpeechAsync(client, new { model = "tts-1", voice = "alloy", language = "xx", input = Fox });

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        ErrorEnvelopeAssert.Says(ErrorEnvelopeAssert.IsEnvelope(await response.Content.ReadAsStringAsync()), "language", "voice_not_found");
    }

    [Fact]
    public async Task Models_have_openai_fields_and_the_earliest_created_of_the_backends()
    {
        using var gateway = fleet.CreateGatewayClient();
        var listed = await CreatedByIdAsync(gateway);

        Assert.Equal(listed, await CreatedByIdAsync(gateway));
        var byBackend = await Task.WhenAll(Enumerable.Range(0, fleet.Backends.Count).Select(async i =>
        {
            using var backend = fleet.CreateBackendClient(i);
            return await CreatedByIdAsync(backend);
        }));
        Assert.All(listed, model => Assert.Equal(byBackend.Min(b => b[model.Key]), model.Value));
        using var one = JsonDocument.Parse(await gateway.GetStringAsync(new Uri("/v1/models/tts-1", UriKind.Relative)));
        Assert.Equal(listed["tts-1"], one.RootElement.GetProperty("created").GetInt64());
    }

    [Fact]
    public async Task The_gateway_lists_the_models_and_names_them_in_a_404_as_a_backend_does()
    {
        using var gateway = fleet.CreateGatewayClient();
        using var backend = fleet.CreateBackendClient(0);

        // Every backend serves the same model here, so the gateway's merge is that backend's list, in the same order.
        Assert.Equal(await ListedIdsAsync(backend), await ListedIdsAsync(gateway));
        var unknown = new Uri("/v1/models/tts-9", UriKind.Relative);
        Assert.Equal(await ErrorMessageAsync(await backend.GetAsync(unknown)), await ErrorMessageAsync(await gateway.GetAsync(unknown)));
    }

    /// <remarks>
    /// OpenAI's dated snapshots (<c>gpt-4o-mini-tts-2025-12-15</c> is in openai-node's <c>SpeechModel</c>) and its older
    /// <c>-1106</c> ones name the same model as the name they date, and are answered under their own id as OpenAI does.
    /// </remarks>
    [Theory]
    [InlineData("gpt-4o-mini-tts-2025-12-15")]
    [InlineData("gpt-4o-mini-tts-2025-03-20")]
    [InlineData("tts-1-1106")]
    [InlineData("tts-1-hd-1106")]
    public async Task An_openai_snapshot_id_is_served_and_retrieved_by_the_gateway_and_a_backend(string snapshot)
    {
        using var gateway = fleet.CreateGatewayClient();
        using var backend = fleet.CreateBackendClient(0);

        foreach (var client in new[] { gateway, backend })
        {
            using var spoken = await PostSpeechAsync(client, new { model = snapshot, voice = "alloy", input = "Hi.", response_format = "wav" });
            Assert.Equal(HttpStatusCode.OK, spoken.StatusCode);
            using var retrieved = JsonDocument.Parse(await client.GetStringAsync(new Uri($"/v1/models/{snapshot}", UriKind.Relative)));
            Assert.Equal(snapshot, retrieved.RootElement.GetProperty("id").GetString());
            Assert.Equal("espeak", retrieved.RootElement.GetProperty("family").GetString());
        }

        Assert.DoesNotContain(snapshot, await ListedIdsAsync(gateway));
    }

    /// <remarks>
    /// OpenAI's SDKs send <c>org/model</c> (a Hugging Face name) as <c>org%2Fmodel</c>, which Kestrel leaves escaped in
    /// the route; <c>%252F</c> is an escaped percent sign, not a slash.
    /// </remarks>
    [Theory]
    [InlineData("org%2Fmodel", "org/model")]
    [InlineData("org%2fmodel/", "org/model")]
    [InlineData("a%252Fb", "a%2Fb")]
    [InlineData("a%20b?x=%2F", "a b")]
    public async Task A_model_id_is_looked_up_and_named_as_the_client_escaped_it_by_the_gateway_and_a_backend(string escaped, string id)
    {
        using var gateway = fleet.CreateGatewayClient();
        using var backend = fleet.CreateBackendClient(0);
        var uri = new Uri($"/v1/models/{escaped}", UriKind.Relative);

        Assert.StartsWith($"The model '{id}' does not exist;", await ErrorMessageAsync(await backend.GetAsync(uri)), StringComparison.Ordinal);
        Assert.StartsWith($"The model '{id}' does not exist;", await ErrorMessageAsync(await gateway.GetAsync(uri)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Backend_metrics_count_speech_but_are_not_reachable_through_the_gateway()
    {
        using var gateway = fleet.CreateGatewayClient();
        await SynthesizePcmAsync(gateway, "Count me.");

        var direct = string.Concat(await Task.WhenAll(
            Enumerable.Range(0, fleet.Backends.Count).Select(i => fleet.CreateBackendClient(i).GetStringAsync(new Uri("/metrics", UriKind.Relative)))));
        Assert.Contains("mesh_tts_time_to_first_audio_seconds_count", direct, StringComparison.Ordinal);
        Assert.Contains("mesh_requests_total{", direct, StringComparison.Ordinal);

        // The gateway's /metrics is its own: its request series carry variant and pool, never a backend's own label set.
        var viaGateway = await gateway.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Contains("mesh_requests_total{variant=\"test\",pool=\"shared\"", viaGateway, StringComparison.Ordinal);
        Assert.DoesNotContain("mesh_requests_total{backend=", viaGateway, StringComparison.Ordinal);
        Assert.DoesNotContain("mesh_tts_time_to_first_audio_seconds_count{backend=", viaGateway, StringComparison.Ordinal);
    }

    private static async Task<string[]> ListedIdsAsync(HttpClient client) =>
        [.. (await client.GetFromJsonAsync(new Uri("/v1/models", UriKind.Relative), ContractsJsonContext.Default.ModelList))!.Data.Select(m => m.Id)];

    /// <summary>Each listed model's <c>created</c>, after checking the entry has OpenAI's Model fields.</summary>
    private static async Task<Dictionary<string, long>> CreatedByIdAsync(HttpClient client)
    {
        using var listed = JsonDocument.Parse(await client.GetStringAsync(new Uri("/v1/models", UriKind.Relative)));
        var models = listed.RootElement.GetProperty("data").EnumerateArray().ToArray();
        Assert.NotEmpty(models);
        Assert.All(models, m =>
        {
            Assert.Equal("model", m.GetProperty("object").GetString());
            Assert.Equal("mesh", m.GetProperty("owned_by").GetString());
        });
        return models.ToDictionary(m => m.GetProperty("id").GetString()!, m => m.GetProperty("created").GetInt64());
    }

    private static async Task<HttpResponseMessage> PostSpeechAsync(HttpClient client, object body) =>
        await client.PostAsync(new Uri("/v1/audio/speech", UriKind.Relative), JsonContent.Create(body, options: JsonSerializerOptions.Web));

    private static async Task<string> ErrorMessageAsync(HttpResponseMessage response)
    {
        using (response)
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            var error = ErrorEnvelopeAssert.IsEnvelope(await response.Content.ReadAsStringAsync());
            return error.GetProperty("message").GetString()!;
        }
    }

    private static async Task<DecodedAudio> SynthesizePcmAsync(HttpClient client, string input)
    {
        using var response = await PostSpeechAsync(client, new { model = "tts-1", voice = "alloy", input, response_format = "pcm" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return DecodedAudio.FromPcm16(await response.Content.ReadAsByteArrayAsync(), OpenAiModels.PcmSampleRate);
    }
}
