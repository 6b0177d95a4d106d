using System.Text;
using System.Text.Json;
using Mesh.Contracts;

namespace Mesh.Tests.Contracts;

public sealed class SpeechRequestParserTests
{
    private static ParsedSpeechRequest Parse(string json) => SpeechRequestParser.Parse(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void A_minimal_openai_request_is_valid()
    {
        var parsed = Parse("""{"model":"tts-1","input":"Hello","voice":"alloy"}""");

        Assert.True(parsed.IsValid);
        Assert.Equal("Hello", parsed.Request!.Input);
        Assert.Null(parsed.Request.ResponseFormat);
    }

    [Fact]
    public void A_leading_byte_order_mark_is_ignored_and_only_there()
    {
        byte[] bom = [0xEF, 0xBB, 0xBF];
        var json = """{"model":"tts-1","input":"Hello","voice":"alloy"}"""u8;

        var parsed = SpeechRequestParser.Parse([.. bom, .. json]);
        var twice = SpeechRequestParser.Parse([.. bom, .. bom, .. json]);

        Assert.True(parsed.IsValid, parsed.Error?.Message);
        Assert.Equal("Hello", parsed.Request!.Input);
        Assert.Equal("invalid_json", twice.Error?.Code);
    }

    [Fact]
    public void Instructions_are_checked_like_openai_checks_them()
    {
        var atLimit = Parse($$"""{"model":"gpt-4o-mini-tts","input":"x","voice":"v","instructions":"{{new string('a', 4096)}}"}""");
        var overLimit = Parse($$"""{"model":"gpt-4o-mini-tts","input":"x","voice":"v","instructions":"{{string.Concat(Enumerable.Repeat("\ud83d\ude00", 4097))}}"}""");

        Assert.True(atLimit.IsValid);
        Assert.Equal(4096, atLimit.Request!.Instructions!.Length);
        Assert.False(overLimit.IsValid);
        Assert.Equal(("instructions", "string_above_max_length"), (overLimit.Error!.Param, overLimit.Error.Code));
        Assert.Contains("4097", overLimit.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_custom_voice_object_gives_its_id()
    {
        var parsed = Parse("""{"model":"tts-1","input":"x","voice":{"id":"en-gb","name":"ignored"}}""");

        Assert.True(parsed.IsValid);
        Assert.Equal("en-gb", parsed.Request!.Voice);
    }

    [Fact]
    public void A_control_character_is_placed_by_characters_as_the_length_limit_counts()
    {
        var parsed = Parse("""{"model":"m","input":"\ud83d\ude00\u0001","voice":"v"}""");

        Assert.Contains("U+0001 at character 1;", parsed.Error!.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The line breaks besides LF and CR: text taken from PDFs and word processors breaks its pages with form feeds, and
    /// converters from other encodings write NEL, LS and PS.
    /// </summary>
    public static TheoryData<string> OtherLineBreaks => ["\u000C", "\u000B", "\u0085", "\u2028", "\u2029"];

    [Theory]
    [MemberData(nameof(OtherLineBreaks))]
    public void Line_breaks_of_every_kind_are_text_layout(string lineBreak)
    {
        var input = JsonSerializer.Serialize($"Page one ends here.{lineBreak}Page two begins.\r\n\tThe end.");
        var parsed = Parse($$"""{"model":"m","input":{{input}},"voice":"v"}""");

        Assert.True(parsed.IsValid, parsed.Error?.Message);
    }

    [Theory]
    [InlineData("\u0001")]
    [InlineData("\u001C")]
    [InlineData("\u001F")]
    [InlineData("\u007F")]
    [InlineData("\u0080")]
    [InlineData("\u009B")]
    public void Other_control_characters_are_refused_naming_what_is_allowed(string control)
    {
        var parsed = Parse($$"""{"model":"m","input":{{JsonSerializer.Serialize($"a{control}b")}},"voice":"v"}""");

        Assert.Equal(("input", "invalid_characters"), (parsed.Error!.Param, parsed.Error.Code));
        Assert.EndsWith(
            "only tab, line feed, vertical tab, form feed, carriage return and next line (U+0085) are allowed.", parsed.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Mesh_fields_are_read()
    {
        var parsed = Parse("""{"model":"m","input":"x","voice":"v","response_format":"pcm","speed":1.5,"sample_rate":16000,"language":"de","priority":"batch","stream_format":"sse"}""");

        Assert.True(parsed.IsValid);
        Assert.Equal(("pcm", 1.5, 16000, "de", "batch", "sse"),
            (parsed.Request!.ResponseFormat, parsed.Request.Speed, parsed.Request.SampleRate, parsed.Request.Language, parsed.Request.Priority, parsed.Request.StreamFormat));
    }

    [Theory]
    [InlineData("16000.0")]
    [InlineData("16000.000")]
    [InlineData("1.6e4")]
    [InlineData("16000")]
    public void A_whole_sample_rate_is_read_however_the_number_is_written(string rate)
    {
        var parsed = Parse($$"""{"model":"m","input":"x","voice":"v","sample_rate":{{rate}}}""");

        Assert.True(parsed.IsValid, parsed.Error?.Message);
        Assert.Equal(16000, parsed.Request!.SampleRate);
    }

    [Theory]
    [InlineData("16000.5")]
    [InlineData("16000.0000001")]
    [InlineData("1.60005e4")]
    [InlineData("4294983296.0")]
    public void A_sample_rate_with_a_fraction_or_beyond_32_bits_is_not_offered(string rate)
    {
        var error = Parse($$"""{"model":"m","input":"x","voice":"v","sample_rate":{{rate}}}""").Error!;

        Assert.Equal((400, ErrorTypes.InvalidRequest, "sample_rate", "invalid_value"), (error.Status, error.Type, error.Param, error.Code));
        Assert.StartsWith($"'{rate}' is not a valid sample_rate; expected one of: 8000, 16000,", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"model":"","input":"x","voice":"v"}""", "model", "invalid_value")]
    [InlineData("""{"model":"m","voice":"v"}""", "input", "missing_required_parameter")]
    [InlineData("""{"model":"m","input":"x"}""", "voice", "missing_required_parameter")]
    [InlineData("""{"model":"m","input":"","voice":"v"}""", "input", "invalid_value")]
    [InlineData("""{"model":"m","input":["x"],"voice":"v"}""", "input", "invalid_type")]
    [InlineData("""{"model":"m","input":"x","voice":"v","speed":"fast"}""", "speed", "invalid_type")]
    [InlineData("""{"model":"m","input":"x","voice":{}}""", "voice", "invalid_type")]
    [InlineData("""{"model":"m","input":"x","voice":{"id":5}}""", "voice", "invalid_type")]
    [InlineData("""{"model":"m","input":"x","voice":null}""", "voice", "missing_required_parameter")]
    [InlineData("""{"model":"m","input":"x","voice":""}""", "voice", "invalid_value")]
    [InlineData("""{"model":"m","input":"x","voice":{"id":""}}""", "voice", "invalid_value")]
    [InlineData("""{"model":"m","input":"x","voice":{"id":null}}""", "voice", "invalid_type")]
    [InlineData("""{"model":"m","input":"x","voice":["alloy"]}""", "voice", "invalid_type")]
    [InlineData("""{"model":"m","input":"x","voice":"v","instructions":5}""", "instructions", "invalid_type")]
    [InlineData("""{"model":"m","input":"x","voice":"v","instructions":["Speak slowly."]}""", "instructions", "invalid_type")]
    [InlineData("""{"model":"m","input":"x","voice":"v","sample_rate":"16000"}""", "sample_rate", "invalid_type")]
    [InlineData("""{"model":"m","input":"x","voice":"v","sample_rate":16000.5}""", "sample_rate", "invalid_value")]
    [InlineData("""{"model":"m","input":"a\u0000b","voice":"v"}""", "input", "invalid_characters")]
    [InlineData("""{"model":"m","input":"\ud800","voice":"v"}""", "input", "invalid_encoding")]
    [InlineData("""{"model":"m","input":"x","voice":"v","language":""}""", "language", "invalid_value")]
    [InlineData("""{"model":"m","input":"x","voice":"v","speed":0.24}""", "speed", "invalid_value")]
    [InlineData("""{"model":"m","input":"x","voice":"v","speed":4.01}""", "speed", "invalid_value")]
    [InlineData("""{"model":"m","input":"x","voice":"v","sample_rate":11025}""", "sample_rate", "invalid_value")]
    [InlineData("""{"model":"m","input":"x","voice":"v","response_format":"ogg"}""", "response_format", "invalid_value")]
    [InlineData("""{"model":"m","input":"x","voice":"v","stream_format":"chunks"}""", "stream_format", "invalid_value")]
    [InlineData("""{"model":"m","input":"x","voice":"v","priority":"urgent"}""", "priority", "invalid_value")]
    [InlineData("""{"model":"m","input":"x",""", null, "invalid_json")]
    [InlineData("""null""", null, "invalid_json")]
    [InlineData("""42""", null, "invalid_json")]
    [InlineData("""[]""", null, "invalid_json")]
    [InlineData("", null, "invalid_json")]
    [InlineData("""{"a":1} {"b":2}""", null, "invalid_json")]
    public void Invalid_requests_name_the_field_and_the_reason(string json, string? param, string code)
    {
        var parsed = Parse(json);

        Assert.False(parsed.IsValid);
        Assert.Equal(400, parsed.Error!.Status);
        Assert.Equal(param, parsed.Error.Param);
        Assert.Equal(code, parsed.Error.Code);
        Assert.Equal(ErrorTypes.InvalidRequest, parsed.Error.Type);
    }

    [Theory]
    [InlineData("[]", "must be a JSON object, not an array")]
    [InlineData("\"x\"", "must be a JSON object, not a string")]
    [InlineData(" ", "empty")]
    [InlineData("[", "not valid JSON (line 1, byte 2)")]
    [InlineData("{\"input\":1}", "Invalid type for 'input': expected a string, but got a number")]
    [InlineData("{\"speed\":true}", "Invalid type for 'speed': expected a number, but got a boolean")]
    [InlineData("{\"input\":\"x\",\"voice\":\"\"}", "'voice' must not be empty.")]
    [InlineData("{\"voice\":{\"id\":null}}", "Invalid type for 'voice': expected a string or an object with a string 'id', but got an object whose 'id' is null.")]
    [InlineData("{\"voice\":{\"id\":5}}", "but got an object whose 'id' is a number.")]
    [InlineData("{\"voice\":{\"id\":{\"id\":\"alloy\"}}}", "but got an object whose 'id' is an object.")]
    [InlineData("{\"voice\":{\"name\":\"alloy\"}}", "but got an object without an 'id'.")]
    [InlineData("{\"voice\":[\"alloy\"]}", "but got an array.")]
    public void Messages_say_what_is_wrong(string json, string expected)
    {
        Assert.Contains(expected, Parse(json).Error!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Nesting_past_the_limit_is_refused_as_such()
    {
        var parsed = Parse($$"""{"x":{{new string('[', SpeechRequestParser.MaxDepth + 5)}}{{new string(']', SpeechRequestParser.MaxDepth + 5)}}}""");

        Assert.Equal("invalid_json", parsed.Error!.Code);
        Assert.Contains("nested more than", parsed.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tab_and_line_breaks_are_ordinary_text()
    {
        Assert.True(Parse("""{"model":"m","voice":"v","input":"One.\tTwo.\r\nThree."}""").IsValid);
    }

    [Fact]
    public void Input_length_counts_characters_not_utf16_units()
    {
        var emoji = string.Concat(Enumerable.Repeat("😀", 4096));
        Assert.True(Parse($$"""{"model":"m","voice":"v","input":"{{emoji}}"}""").IsValid);

        var parsed = Parse($$"""{"model":"m","voice":"v","input":"{{emoji}}a"}""");
        Assert.Equal("input", parsed.Error!.Param);
        Assert.Contains("4097", parsed.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_utf8_is_refused()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"model":"m","voice":"v","input":"AB"}""");
        bytes[^3] = 0xFF;

        Assert.Equal("invalid_encoding", SpeechRequestParser.Parse(bytes).Error!.Code);
    }

    [Fact]
    public void Oversized_bodies_are_413()
    {
        var bytes = new byte[SpeechRequestParser.MaxBodyBytes + 1];

        Assert.Equal(413, SpeechRequestParser.Parse(bytes).Error!.Status);
    }
}
