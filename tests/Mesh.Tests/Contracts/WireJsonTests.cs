using System.Text;
using System.Text.Json;
using Mesh.Contracts;

namespace Mesh.Tests.Contracts;

public sealed class WireJsonTests
{
    [Fact]
    public void Base64_audio_and_apostrophes_are_written_as_they_are()
    {
        var delta = Encoding.UTF8.GetString(JsonSerializer.SerializeToUtf8Bytes(new SpeechAudioDelta("a+b/c="), ContractsJsonContext.Wire.SpeechAudioDelta));
        var error = Encoding.UTF8.GetString(JsonSerializer.SerializeToUtf8Bytes(
            ApiError.InvalidRequest("'speed' must be between 0.25 and 4.", "speed", "invalid_value").ToEnvelope(), ContractsJsonContext.Wire.ErrorEnvelope));

        Assert.Contains("\"a+b/c=\"", delta, StringComparison.Ordinal);
        Assert.Contains("\"'speed' must be", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Control_characters_and_quotes_stay_escaped()
    {
        var error = Encoding.UTF8.GetString(JsonSerializer.SerializeToUtf8Bytes(
            ApiError.InvalidRequest("a \"b\"\n\u0001", null, "x").ToEnvelope(), ContractsJsonContext.Wire.ErrorEnvelope));

        Assert.Contains("a \\\"b\\\"\\n\\u0001", error, StringComparison.Ordinal);
        Assert.Equal("a \"b\"\n\u0001", JsonDocument.Parse(error).RootElement.GetProperty("error").GetProperty("message").GetString());
    }
}
