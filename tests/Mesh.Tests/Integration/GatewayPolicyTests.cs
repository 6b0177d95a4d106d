using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using Mesh.Contracts;
using Mesh.Gateway.Auth;

namespace Mesh.Tests.Integration;

/// <summary>Admission under saturation, A/B assignment and API keys, against real gateway and backend processes.</summary>
public sealed class GatewayPolicyTests
{
    private static readonly object TinyRequest = new { model = "tts-1", voice = "alloy", input = "Hi.", response_format = "pcm" };

    [Fact]
    public async Task Under_batch_saturation_realtime_is_admitted_at_once_while_batch_gets_429()
    {
        // Each sentence takes 400 ms on the engine, so a four-sentence batch request holds its slot for well over a second.
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test", "--Faults:SentenceDelayMs=400", "--WORKERS=4");
        await using var gateway = await MeshFleet.StartGatewayAsync(
            [backend.Url],
            "--Mesh:Admission:TotalConcurrency=3",
            "--Mesh:Admission:RealtimeReserved=1",
            "--Mesh:Admission:Batch:MaxQueue=2",
            "--Mesh:Admission:Batch:QueueTimeoutMs=10000",
            "--Mesh:Admission:Realtime:QueueTimeoutMs=2000");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url, Timeout = TimeSpan.FromSeconds(60) };

        var batch = Enumerable.Range(0, 10).Select(_ => client.PostAsJsonAsync(
            new Uri("/v1/audio/speech", UriKind.Relative),
            new { model = "tts-1", voice = "alloy", input = "One. Two. Three. Four.", response_format = "pcm" })).ToArray();
        // Realtime comes once every batch request has been admitted, queued or shed, however long they take to arrive.
        await Eventually.UntilAsync(
            async () => MetricsText.Sum(await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)), "mesh_shed_total{", "priority=\"batch\"") >= 6,
            "six of the ten batch requests were never shed");
        using var realtime = await client.PostAsJsonAsync(
            new Uri("/v1/audio/speech/stream/pcm", UriKind.Relative), new { voice = "alloy", input = "Now." }, CancellationToken.None);

        Assert.Equal(HttpStatusCode.OK, realtime.StatusCode);
        Assert.Equal("0", realtime.Headers.GetValues(MeshHeaders.QueueMs).Single());
        var responses = await Task.WhenAll(batch);
        double queuedSeconds;
        try
        {
            queuedSeconds = responses.Where(r => r.IsSuccessStatusCode)
                .Sum(r => double.Parse(r.Headers.GetValues(MeshHeaders.QueueMs).Single(), System.Globalization.CultureInfo.InvariantCulture) / 1000);
            var shed = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToArray();
            Assert.Equal(6, shed.Length);
            Assert.Equal(4, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
            Assert.All(shed, r => Assert.NotNull(r.Headers.RetryAfter));
            var envelope = await shed[0].Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope);
            Assert.Equal("queue_full", envelope!.Error.Code);
        }
        finally
        {
            foreach (var response in responses)
            {
                response.Dispose();
            }
        }

        var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Contains("mesh_shed_total{reason=\"queue_full\",priority=\"batch\",variant=\"test\"} 6", metrics, StringComparison.Ordinal);
        // Time to first audio counts from arrival at the gateway, so the admitted batch requests' queue waits are in it.
        var firstAudio = System.Text.RegularExpressions.Regex.Match(
            metrics, @"(?m)^mesh_tts_time_to_first_audio_seconds_sum\{[^}]*priority=""batch""\} (\S+)$");
        Assert.True(firstAudio.Success, "no batch time-to-first-audio series");
        Assert.True(queuedSeconds > 1, $"the admitted requests queued only {queuedSeconds:0.00} s in all, which proves nothing");
        Assert.True(
            double.Parse(firstAudio.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) > queuedSeconds,
            $"batch time to first audio {firstAudio.Groups[1].Value} s in all, against {queuedSeconds:0.00} s queued");
    }

    [Fact]
    public async Task Variants_split_by_weight_stick_to_clients_and_can_be_forced()
    {
        await using var alpha = await MeshFleet.StartBackendAsync("alpha-b0", "alpha");
        await using var beta = await MeshFleet.StartBackendAsync("beta-b0", "beta");
        await using var gateway = await StartVariantGatewayAsync(
            [("alpha", alpha.Url), ("beta", beta.Url)], "--Mesh:Variants:Weights:alpha=80", "--Mesh:Variants:Weights:beta=20");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };

        const int clients = 200;
        var variants = new List<string>();
        for (var i = 0; i < clients; i++)
        {
            variants.Add(await VariantOfAsync(client, $"client-{i}"));
        }

        var betaShare = variants.Count(v => v == "beta");
        var sigma = Math.Sqrt(clients * 0.2 * 0.8);
        Assert.InRange(betaShare, clients * 0.2 - 3 * sigma, clients * 0.2 + 3 * sigma);
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(variants[i], await VariantOfAsync(client, $"client-{i}"));
        }

        Assert.Equal("beta", await VariantOfAsync(client, "client-0", forced: "beta"));
        Assert.Equal("alpha", await VariantOfAsync(client, "client-0", forced: "alpha"));
        using (var unknown = await SendAsync(client, "client-0", forced: "gamma"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
            Assert.Equal("unknown_variant", (await unknown.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope))!.Error.Code);
        }

        var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Contains("mesh_requests_total{variant=\"beta\"", metrics, StringComparison.Ordinal);
        Assert.Contains("mesh_requests_total{variant=\"alpha\"", metrics, StringComparison.Ordinal);
    }

    /// <remarks>
    /// Both backends label themselves <c>default</c>, as one started without its variant's <c>Backend__Variant</c>:
    /// the client is still told the variant it was assigned, on a whole file, a stream and a WebSocket's handshake, and
    /// the mismatch is logged once for each backend, not for each request.
    /// </remarks>
    [Fact]
    public async Task Responses_carry_the_assigned_variant_and_a_backend_labelled_otherwise_is_warned_of_once()
    {
        await using var stable = await MeshFleet.StartBackendAsync("stable-b0", "default");
        await using var candidate = await MeshFleet.StartBackendAsync("candidate-b0", "default");
        await using var gateway = await StartVariantGatewayAsync([("stable", stable.Url), ("candidate", candidate.Url)]);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = gateway.Url };

        foreach (var variant in new[] { "stable", "candidate" })
        {
            for (var i = 0; i < 2; i++)
            {
                Assert.Equal(variant, await VariantOfAsync(client, "client-0", forced: variant));
                using var file = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech") { Content = JsonContent.Create(TinyRequest) };
                file.Headers.Add(MeshHeaders.Variant, variant);
                using var fileResponse = await client.SendAsync(file);
                Assert.Equal(HttpStatusCode.OK, fileResponse.StatusCode);
                Assert.Equal(variant, fileResponse.Headers.GetValues(MeshHeaders.Variant).Single());

                using var socket = new ClientWebSocket();
                socket.Options.CollectHttpResponseDetails = true;
                socket.Options.SetRequestHeader(MeshHeaders.Variant, variant);
                await socket.ConnectAsync(new UriBuilder(gateway.Url) { Scheme = "ws", Path = "/ws" }.Uri, CancellationToken.None);
                Assert.Equal(variant, socket.HttpResponseHeaders![MeshHeaders.Variant].Single());
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            }
        }

        const string Mislabelled = "labels itself variant 'default'";
        await Eventually.UntilAsync(
            () => Task.FromResult(gateway.Output.Split('\n').Count(line => line.Contains(Mislabelled, StringComparison.Ordinal)) >= 2),
            "the gateway did not warn of both mislabelled backends");
        var warnings = gateway.Output.Split('\n').Where(line => line.Contains(Mislabelled, StringComparison.Ordinal)).ToArray();
        Assert.Single(warnings, line => line.Contains("stable-b0", StringComparison.Ordinal) && line.Contains("variant 'stable'", StringComparison.Ordinal));
        Assert.Single(warnings, line => line.Contains("candidate-b0", StringComparison.Ordinal) && line.Contains("variant 'candidate'", StringComparison.Ordinal));
        Assert.Equal(2, warnings.Length);
    }

    [Fact]
    public async Task Api_keys_are_checked_rate_limited_and_revocable_live()
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test");
        var keysFile = Path.Combine(Path.GetTempPath(), $"mesh-keys-{Guid.NewGuid():N}.json");
        await WriteKeysAsync(keysFile, revokeGood: false);
        try
        {
            await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url], $"--Mesh:Auth:KeysFile={keysFile}");
            await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
            using var client = new HttpClient { BaseAddress = gateway.Url };

            Assert.Equal("missing_api_key", await RejectionAsync(client, null, HttpStatusCode.Unauthorized));
            Assert.Equal("invalid_api_key", await RejectionAsync(client, "sk-wrong", HttpStatusCode.Unauthorized));
            Assert.Equal("revoked_api_key", await RejectionAsync(client, "sk-revoked", HttpStatusCode.Unauthorized));
            using (var ok = await SpeakAsync(client, "sk-good"))
            {
                Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            }

            // The slow key's bucket holds two requests; the third within the second is refused with a retry hint.
            (await SpeakAsync(client, "sk-slow")).Dispose();
            (await SpeakAsync(client, "sk-slow")).Dispose();
            using (var limited = await SpeakAsync(client, "sk-slow"))
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
                Assert.NotNull(limited.Headers.RetryAfter);
                Assert.Equal("rate_limit_exceeded", (await limited.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope))!.Error.Code);
            }

            await WriteKeysAsync(keysFile, revokeGood: true);
            var deadline = DateTime.UtcNow.AddSeconds(10);
            HttpStatusCode status;
            do
            {
                await Task.Delay(200);
                using var response = await SpeakAsync(client, "sk-good");
                status = response.StatusCode;
            }
            while (status == HttpStatusCode.OK && DateTime.UtcNow < deadline);

            Assert.Equal(HttpStatusCode.Unauthorized, status);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode);
        }
        finally
        {
            File.Delete(keysFile);
        }
    }

    [NonLoopbackFact]
    public async Task Without_keys_a_client_off_loopback_gets_401_loopback_only_with_a_bearer_challenge()
    {
        // The gateway listens only on this machine's own non-loopback address, so the test, its client, connects from it.
        // The key check answers before any routing, so no backend is needed behind it.
        await using var gateway = await MeshFleet.StartGatewayAsync(
            [new Uri($"http://127.0.0.1:{LoopbackPorts.Unused()}/")], $"--urls=http://{NonLoopbackAddress.Find()}:0");
        using var client = new HttpClient { BaseAddress = gateway.Url };

        using var response = await SpeakAsync(client, key: null);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var challenge = Assert.Single(response.Headers.WwwAuthenticate);
        Assert.Equal(("Bearer", null), (challenge.Scheme, challenge.Parameter));
        var error = (await response.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope))!.Error;
        Assert.Equal((ErrorTypes.Authentication, null, "loopback_only"), (error.Type, error.Param, error.Code));
        Assert.Contains("loopback clients only", error.Message, StringComparison.Ordinal);
        Assert.Contains("mesh_auth_failures_total{code=\"loopback_only\"} 1", await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Saving_the_keys_file_keeps_unchanged_limits_and_a_bad_file_is_refused()
    {
        await using var backend = await MeshFleet.StartBackendAsync("b0", "test");
        var keysFile = Path.Combine(Path.GetTempPath(), $"mesh-keys-{Guid.NewGuid():N}.json");
        var limited = new { Name = "limited", Sha256 = ApiKeyStore.HashOf("sk-limited"), RequestsPerSecond = 0.001, Burst = 1 };
        await WriteKeysFileAsync(keysFile, limited);
        try
        {
            await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url], $"--Mesh:Auth:KeysFile={keysFile}");
            await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
            using var client = new HttpClient { BaseAddress = gateway.Url };
            (await SpeakAsync(client, "sk-limited")).Dispose();

            // Another key added, this one unchanged: once the new key works, this one must still be out of tokens.
            await WriteKeysFileAsync(keysFile, limited, new { Name = "added", Sha256 = ApiKeyStore.HashOf("sk-added") });
            await UntilAsync(
                async () =>
                {
                    using var response = await SpeakAsync(client, "sk-added");
                    return response.StatusCode == HttpStatusCode.OK;
                },
                "the added key was never accepted");
            Assert.Equal("rate_limit_exceeded", await RejectionAsync(client, "sk-limited", HttpStatusCode.TooManyRequests));

            // A key out of range and one more new key: the whole file is refused, the keys in force serve on.
            await WriteKeysFileAsync(
                keysFile,
                limited,
                new { Name = "added", Sha256 = ApiKeyStore.HashOf("sk-added"), Burst = 0 },
                new { Name = "late", Sha256 = ApiKeyStore.HashOf("sk-late") });
            await UntilAsync(() => Task.FromResult(gateway.Output.Contains("The changed AuthOptions settings were refused", StringComparison.Ordinal)), "the bad file was not refused");
            Assert.Contains("The setting Mesh:Auth:Keys:1:Burst must be between", gateway.Output, StringComparison.Ordinal);
            Assert.Equal("invalid_api_key", await RejectionAsync(client, "sk-late", HttpStatusCode.Unauthorized));
            using var added = await SpeakAsync(client, "sk-added");
            Assert.Equal(HttpStatusCode.OK, added.StatusCode);
        }
        finally
        {
            File.Delete(keysFile);
        }
    }

    [Fact]
    public async Task A_key_out_of_range_stops_the_gateway_at_start()
    {
        InvalidOperationException? refused = null;
        try
        {
            await using var gateway = await MeshFleet.StartGatewayAsync(
                [new Uri("http://127.0.0.1:9/")],
                "--Mesh:Auth:Keys:0:Name=team-a",
                $"--Mesh:Auth:Keys:0:Sha256={ApiKeyStore.HashOf("sk-a")}",
                "--Mesh:Auth:Keys:0:Burst=0");
        }
        catch (InvalidOperationException ex)
        {
            refused = ex;
        }

        Assert.NotNull(refused);
        Assert.Contains("The setting Mesh:Auth:Keys:0:Burst must be between", refused.Message, StringComparison.Ordinal);
    }

    private static Task WriteKeysAsync(string path, bool revokeGood) =>
        WriteKeysFileAsync(
            path,
            new { Name = "good", Sha256 = ApiKeyStore.HashOf("sk-good"), Revoked = revokeGood },
            new { Name = "slow", Sha256 = ApiKeyStore.HashOf("sk-slow"), RequestsPerSecond = 0.01, Burst = 2 },
            new { Name = "old", Sha256 = ApiKeyStore.HashOf("sk-revoked"), Revoked = true });

    private static Task WriteKeysFileAsync(string path, params object[] keys) =>
        File.WriteAllTextAsync(path, JsonSerializer.Serialize(new { Mesh = new { Auth = new { Keys = keys } } }));

    /// <summary>Polls <paramref name="condition"/> until it holds, for at most 10 s (a saved file is reloaded within about a second).</summary>
    private static async Task UntilAsync(Func<Task<bool>> condition, string failure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(100);
        }
    }

    /// <summary>The code of a refusal; a 401 must challenge for a bearer token (RFC 6750), naming a refused key as invalid.</summary>
    private static async Task<string?> RejectionAsync(HttpClient client, string? key, HttpStatusCode expected)
    {
        using var response = await SpeakAsync(client, key);
        Assert.Equal(expected, response.StatusCode);
        if (expected == HttpStatusCode.Unauthorized)
        {
            var challenge = Assert.Single(response.Headers.WwwAuthenticate);
            Assert.Equal("Bearer", challenge.Scheme);
            Assert.Equal(key is null ? null : "error=\"invalid_token\"", challenge.Parameter);
        }

        return (await response.Content.ReadFromJsonAsync(ContractsJsonContext.Default.ErrorEnvelope))!.Error.Code;
    }

    private static Task<HttpResponseMessage> SpeakAsync(HttpClient client, string? key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech") { Content = JsonContent.Create(TinyRequest) };
        if (key is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        }

        return client.SendAsync(request);
    }

    /// <summary>A gateway with one backend in the shared pool of each variant, named after it (<c>VARIANT-b0</c>).</summary>
    private static Task<HostProcess> StartVariantGatewayAsync(IEnumerable<(string Variant, Uri Backend)> variants, params string[] extraArgs) =>
        HostProcess.StartAsync(
            RepoPaths.GatewayDll,
            [.. variants.SelectMany((v, i) => MeshFleet.FleetArgs(i, $"{v.Variant}-b0", v.Backend, "shared", v.Variant)), .. extraArgs]);

    private static async Task<string> VariantOfAsync(HttpClient client, string clientId, string? forced = null)
    {
        using var response = await SendAsync(client, clientId, forced);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var variant = response.Headers.GetValues(MeshHeaders.Variant).Single();
        Assert.StartsWith(variant, response.Headers.GetValues(MeshHeaders.Backend).Single(), StringComparison.Ordinal);
        return variant;
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient client, string clientId, string? forced = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech/stream/pcm")
        {
            Content = JsonContent.Create(new { voice = "alloy", input = "Hi." }),
        };
        request.Headers.Add(ApiKeyMiddleware.ClientHeader, clientId);
        if (forced is not null)
        {
            request.Headers.Add(MeshHeaders.Variant, forced);
        }

        return client.SendAsync(request);
    }
}
