using System.Text;
using Mesh.Bench.Load;

namespace Mesh.Tests.Bench;

public sealed class StreamParsingTests
{
    [Fact]
    public void The_audio_length_is_read_from_base64_even_where_json_escapes_it()
    {
        // 9 bytes of audio: "AAAA+BBB/CCC" with '+' escaped as JSON encoders do by default.
        var fields = StreamEventFields.Parse("""{"type":"sentence","index":0,"text":"Hi.","audio":"AAAA\u002BBBB/CCC","sample_rate":22050}"""u8);

        Assert.Equal("sentence", fields.Type);
        Assert.Equal(9, fields.AudioBytes);
        Assert.Equal(22050, fields.SampleRate);
    }

    [Fact]
    public void Padding_counts_and_errors_carry_their_message()
    {
        Assert.Equal(4, StreamEventFields.Parse("""{"type":"speech.audio.delta","audio":"AAAAAA=="}"""u8).AudioBytes);
        var error = StreamEventFields.Parse("""{"type":"error","error":{"message":"Synthesis failed.","type":"server_error","param":null,"code":null}}"""u8);
        Assert.Equal("error", error.Type);
        Assert.Equal("Synthesis failed.", error.ErrorMessage);
    }

    [Fact]
    public async Task Server_sent_events_split_across_reads_come_back_whole()
    {
        var body = Encoding.UTF8.GetBytes("data: {\"type\":\"speech.audio.delta\",\"audio\":\"AAAA\"}\n\ndata: {\"type\":\"speech.audio.done\"}\n\n");
        var reader = new SseEventReader(new TrickleStream(body, 7));

        var first = await reader.ReadAsync(CancellationToken.None);
        Assert.Equal("""{"type":"speech.audio.delta","audio":"AAAA"}""", Encoding.UTF8.GetString(first!.Value.Data.Span));
        var second = await reader.ReadAsync(CancellationToken.None);
        Assert.Equal("speech.audio.done", StreamEventFields.Parse(second!.Value.Data.Span).Type);
        Assert.Null(await reader.ReadAsync(CancellationToken.None));
    }

    [Fact]
    public void A_mix_parses_weights_and_picks_by_them()
    {
        var mix = TrafficMix.Parse("pcm:3,ws", out var error);

        Assert.Null(error);
        Assert.Equal(0.75, mix!.Weights[RequestKind.Pcm]);
        var random = new Random(2);
        var pcm = Enumerable.Range(0, 4000).Count(_ => mix.Pick(random) == RequestKind.Pcm);
        Assert.InRange(pcm, 2880, 3120);
        Assert.Null(TrafficMix.Parse("mp3:1", out error));
        Assert.Contains("mp3", error, StringComparison.Ordinal);
    }

    /// <summary>Hands out at most a few bytes per read, as a slow network does.</summary>
    private sealed class TrickleStream(byte[] data, int perRead) : MemoryStream(data)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(perRead, buffer.Length)], cancellationToken);
    }
}
