using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Mesh.Tests.Integration;
using Microsoft.FSharp.Core;
using Xunit.Abstractions;

namespace Mesh.Tests.Reliability;

/// <summary>
/// Property-based fuzzing of speech request bodies through the gateway: random objects over the real field names
/// with values of any type, near-valid requests with one field broken, random bytes, truncated JSON, huge numbers,
/// deep nesting, arbitrary Unicode. Invariant: never a 5xx, never a dropped connection, the envelope on every
/// non-2xx, a complete body on every 2xx; afterwards the mesh still serves. Seeded, so a failure replays.
/// </summary>
[Collection(MeshFleetDefinition.Name)]
public sealed class RequestBodyFuzzTests(MeshFleet fleet, ITestOutputHelper output)
{
    public const int Cases = 200;

    /// <summary>The fixed seed; <c>MESH_FUZZ_SEED</c> explores others.</summary>
    public const ulong DefaultSeed = 0x4D45_5348_2026;

    private static readonly string[] Fields = ["model", "input", "voice", "response_format", "speed", "stream_format", "sample_rate", "language", "priority"];
    private static readonly string[] OddFields = ["Model", "", "x", "input ", "__proto__", "\\u0000", "é", "voice\\u0000"];
    private static readonly string[] Paths = [BadInputCatalogue.Speech, BadInputCatalogue.SentenceStream, BadInputCatalogue.PcmStream];

    private static readonly string[] KnownValues =
    [
        "tts-1", "tts-1-hd", "espeak", "alloy", "nova", "en-gb", "de", "mp3", "opus", "aac", "flac", "wav", "pcm", "sse", "audio",
        "realtime", "batch", "en", "Hi.", "", " ", "../../etc/passwd", "/etc/passwd", "%2e%2e%2f", "C:\\\\boot.ini", "null",
    ];

    private static readonly string[] Numbers =
    [
        "0", "-0", "1", "0.25", "4.0", "4.0000001", "8000", "22050", "24000", "48000", "-22050", "1e400", "-1e400", "1e-400",
        "99999999999999999999999", "2147483648", "-2147483649", "1.5e308", "3.14159", "1E3", "0.0000000000000000000001",
    ];

    [Fact]
    public async Task Random_bodies_never_get_a_5xx_a_dropped_connection_or_a_bare_error()
    {
        var seed = Environment.GetEnvironmentVariable("MESH_FUZZ_SEED") is { Length: > 0 } text
            ? ulong.Parse(text, CultureInfo.InvariantCulture)
            : DefaultSeed;
        output.WriteLine($"fuzz seed {seed} (MESH_FUZZ_SEED={seed} replays it), {Cases} cases");

        using var client = new HttpClient { BaseAddress = fleet.Gateway.Url, Timeout = TimeSpan.FromSeconds(60) };
        var statuses = new Dictionary<int, int>();
        var stopwatch = Stopwatch.StartNew();
        var property = FsCheck.FSharp.Prop.ForAll(
            Arb.From(Requests),
            FuncConvert.FromFunc<FuzzRequest, Task>(async request =>
            {
                var status = await SendAndCheckAsync(client, request);
                lock (statuses)
                {
                    statuses[status] = statuses.GetValueOrDefault(status) + 1;
                }
            }));
        var config = Config.QuickThrowOnFailure
            .WithMaxTest(Cases)
            .WithEndSize(60)
            .WithReplay(FSharpOption<Replay>.Some(new Replay(new Rnd(seed), FSharpOption<int>.None)));
        Check.One(config, property);
        stopwatch.Stop();

        output.WriteLine($"{statuses.Values.Sum()} requests in {stopwatch.Elapsed.TotalSeconds:0.0} s; statuses: " +
            string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}")));
        Assert.Equal(Cases, statuses.Values.Sum());
        Assert.True(statuses.Keys.Count(s => s >= 400) >= 3, "the generators reach several kinds of refusal");
        Assert.Contains(200, statuses.Keys);

        // The mesh still serves, and every backend is still ready.
        using var content = new StringContent(BadInputCatalogue.Body(), Encoding.UTF8, "application/json");
        using var response = await client.PostAsync(new Uri(BadInputCatalogue.Speech, UriKind.Relative), content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        foreach (var backend in fleet.Backends)
        {
            using var probe = new HttpClient { BaseAddress = backend.Url };
            Assert.Equal(HttpStatusCode.OK, (await probe.GetAsync(new Uri("/readyz", UriKind.Relative))).StatusCode);
        }
    }

    /// <summary>Sends one request and checks the invariant; returns the status.</summary>
    private static async Task<int> SendAndCheckAsync(HttpClient client, FuzzRequest fuzz)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, fuzz.Path) { Content = new ByteArrayContent(fuzz.Body) };
        if (fuzz.ContentType is { } contentType)
        {
            request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        HttpResponseMessage response;
        byte[] body;
        try
        {
            response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            body = await response.Content.ReadAsByteArrayAsync();
        }
        catch (HttpRequestException ex)
        {
            throw new Xunit.Sdk.XunitException($"the connection dropped ({ex.Message}) for {fuzz}");
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            if (status >= 500)
            {
                throw new Xunit.Sdk.XunitException($"{status} for {fuzz}: {Encoding.UTF8.GetString(body)}");
            }

            if (response.IsSuccessStatusCode)
            {
                Assert.True(body.Length > 0, $"empty {status} for {fuzz}");
            }
            else
            {
                Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
                ErrorEnvelopeAssert.IsEnvelope(Encoding.UTF8.GetString(body));
            }

            return status;
        }
    }

    private static Gen<FuzzRequest> Requests =>
        from path in Gen.Elements(Paths)
        from contentType in Gen.Frequency((12, Gen.Constant<string?>("application/json")), (1, Gen.Constant<string?>(null)), (1, Gen.Constant<string?>("text/plain")))
        from body in Bodies
        select new FuzzRequest(path, contentType, body);

    private static Gen<byte[]> Bodies => Gen.Frequency(
        (5, RandomObject.Select(Utf8)),
        (5, NearlyValid.Select(Utf8)),
        (1, Gen.Choose(0, 255).Select(b => (byte)b).ArrayOf()),
        (1, NearlyValid.SelectMany(json => Gen.Choose(0, json.Length).Select(cut => Utf8(json[..cut])))),
        (1, DeepNesting.Select(Utf8)),
        (1, Gen.Elements(["null", "[]", "\"x\"", "42", "true", "", "{", "}", "{}}", "{\"input\":\"Hi.\"}{\"input\":\"Hi.\"}"]).Select(Utf8)),
        (1, Gen.Constant(Utf8(BadInputCatalogue.OversizedBody))));

    /// <summary>An object of random fields (mostly the real names) with values of any JSON type.</summary>
    private static Gen<string> RandomObject =>
        from count in Gen.Choose(0, 10)
        from pairs in Gen.Zip(FieldName, Value(3)).ArrayOf(count)
        select "{" + string.Join(",", pairs.Select(p => $"\"{p.Item1}\":{p.Item2}")) + "}";

    /// <summary>A valid short request with one field replaced, removed or added, so validation is reached and some succeed.</summary>
    private static Gen<string> NearlyValid =>
        from name in Gen.Elements(Fields)
        from value in Gen.Frequency((3, Value(2).Select(v => (string?)v)), (1, Gen.Constant<string?>(null)))
        from input in Gen.Elements(["Hi.", "Hello there.", "Ok", "1 2 3.", "Ça va ?", "日本語。", "😀 fine."])
        select Nearly(name, value, input);

    private static string Nearly(string name, string? value, string input)
    {
        var fields = new Dictionary<string, string>
        {
            ["model"] = "\"tts-1\"",
            ["voice"] = "\"alloy\"",
            ["input"] = Quote(input),
            ["response_format"] = "\"pcm\"",
        };
        if (value is null)
        {
            fields.Remove(name);
        }
        else
        {
            fields[name] = value;
        }

        return "{" + string.Join(",", fields.Select(f => $"\"{f.Key}\":{f.Value}")) + "}";
    }

    private static Gen<string> DeepNesting =>
        from depth in Gen.Choose(1, 300)
        from open in Gen.Elements(["[", "{\"a\":"])
        from closed in Gen.Elements([true, false])
        select "{\"input\":" + string.Concat(Enumerable.Repeat(open, depth)) + "1" +
            (closed ? string.Concat(Enumerable.Repeat(open == "[" ? "]" : "}", depth)) : "") + "}";

    private static Gen<string> FieldName => Gen.Frequency((8, Gen.Elements(Fields)), (1, Gen.Elements(OddFields)));

    /// <summary>A JSON value as text: strings with any characters (escaped, lone surrogates included), odd numbers, nesting.</summary>
    private static Gen<string> Value(int depth)
    {
        var scalar = Gen.Frequency(
            (4, StringValue),
            (2, Gen.Elements(Numbers)),
            (1, Gen.Choose(-100_000, 100_000).Select(n => n.ToString(CultureInfo.InvariantCulture))),
            (1, Gen.Elements(["true", "false", "null"])));
        return depth <= 0
            ? scalar
            : Gen.Frequency(
                (6, scalar),
                (1, Value(depth - 1).ListOf().Select(items => "[" + string.Join(",", items) + "]")),
                (1, Gen.Zip(FieldName, Value(depth - 1)).ListOf().Select(pairs => "{" + string.Join(",", pairs.Select(p => $"\"{p.Item1}\":{p.Item2}")) + "}")));
    }

    private static Gen<string> StringValue => Gen.Frequency(
        (3, Gen.Elements(KnownValues).Select(v => $"\"{v}\"")),
        (3, Character.ListOf().Select(chars => "\"" + string.Concat(chars) + "\"")),
        (1, Gen.Elements([4096, 4097, 5000]).Select(n => "\"" + new string('a', n) + "\"")));

    /// <summary>One character of a JSON string literal: plain text, any code point escaped, or a lone surrogate.</summary>
    private static Gen<string> Character => Gen.Frequency(
        (6, Gen.Elements("abc xyz.,!?ÀÉé日本😀".EnumerateRunes().Select(r => r.ToString()).ToArray())),
        (2, Gen.Choose(0, 0xFFFF).Select(c => $"\\u{c:x4}")),
        (1, Gen.Elements(["\\n", "\\t", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\r"])));

    private static string Quote(string text) => "\"" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    public sealed record FuzzRequest(string Path, string? ContentType, byte[] Body)
    {
        public override string ToString()
        {
            var text = Encoding.UTF8.GetString(Body);
            return $"POST {Path} ({ContentType ?? "no content type"}, {Body.Length} bytes): {(text.Length > 2000 ? text[..2000] + "…" : text)}";
        }
    }
}
