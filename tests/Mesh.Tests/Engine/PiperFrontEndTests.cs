using Mesh.Backend.ModelFamilies.Piper;

namespace Mesh.Tests.Engine;

public sealed class PiperFrontEndTests
{
    private static PiperConfig Config(string extra = "") => PiperConfig.Parse(
        """
        {
          "audio": { "sample_rate": 16000 },
          "espeak": { "voice": "en-us" },
          "inference": { "noise_scale": 0.5, "length_scale": 1.2, "noise_w": 0.9 },
          "phoneme_id_map": { "_": [0], "^": [1], "$": [2], " ": [3], "a": [10], "b": [11], "c": [13], "\u0327": [14], "ç": [99] },
          "speaker_id_map": { "x": 0, "y": 3 }
        """ + extra + "}",
        "test.onnx.json");

    [Theory]
    [InlineData("ab", new long[] { 1, 0, 10, 0, 11, 0, 2 })]
    [InlineData("a b", new long[] { 1, 0, 10, 0, 3, 0, 11, 0, 2 })]
    [InlineData("aXb", new long[] { 1, 0, 10, 0, 11, 0, 2 })]
    [InlineData("", new long[] { 1, 0, 2 })]
    public void Ids_are_bos_pad_then_each_phoneme_and_pad_then_eos(string phonemes, long[] ids)
    {
        Assert.Equal(ids, PiperFrontEnd.ToIds(phonemes, Config()));
    }

    [Fact]
    public void Phonemes_are_nfd_codepoints()
    {
        // ç is one codepoint composed, two decomposed: Piper maps the decomposed ones.
        Assert.Equal([1, 0, 13, 0, 14, 0, 2], PiperFrontEnd.ToIds("\u00e7", Config()));
    }

    [Fact]
    public void Phoneme_map_replaces_before_the_id_lookup()
    {
        var config = Config(""", "phoneme_map": { "a": ["b", "b"] }""");
        Assert.Equal([1, 0, 11, 0, 11, 0, 2], PiperFrontEnd.ToIds("a", config));
    }

    [Fact]
    public void Scales_are_noise_length_over_speed_and_noise_w()
    {
        Assert.Equal([0.5f, 1.2f, 0.9f], PiperFrontEnd.Scales(Config(), 1.0));
        Assert.Equal([0.5f, 0.6f, 0.9f], PiperFrontEnd.Scales(Config(), 2.0));
        var defaults = PiperConfig.Parse("""{"audio":{"sample_rate":22050},"phoneme_id_map":{}}""", "d");
        Assert.Equal([0.667f, 1.0f, 0.8f], PiperFrontEnd.Scales(defaults, 1.0));
    }

    [Theory]
    [InlineData(""", "num_speakers": 2""")]
    [InlineData(""", "num_speakers": 4, "default_speaker_id": 4""")]
    [InlineData(""", "default_speaker_id": -1""")]
    [InlineData(""", "num_speakers": 0""")]
    public void Speaker_ids_outside_the_model_are_a_load_error(string extra)
    {
        // Before: the config loaded, and the id reached the model's speaker embedding at every request.
        Assert.Throws<InvalidDataException>(() => Config(extra));
        Assert.Equal(3, PiperFrontEnd.SpeakerId(Config(""", "num_speakers": 4"""), "y", modelTakesSpeaker: true));
    }

    [Fact]
    public void Speaker_id_comes_from_the_map_then_the_default_then_zero()
    {
        Assert.Equal(3, PiperFrontEnd.SpeakerId(Config(), "y", modelTakesSpeaker: true));
        Assert.Equal(0, PiperFrontEnd.SpeakerId(Config(), "nobody", modelTakesSpeaker: true));
        Assert.Equal(7, PiperFrontEnd.SpeakerId(Config(""", "default_speaker_id": 7"""), "nobody", modelTakesSpeaker: true));
        Assert.Null(PiperFrontEnd.SpeakerId(Config(), "y", modelTakesSpeaker: false));
    }

    [Fact]
    public void Config_without_a_sample_rate_is_refused()
    {
        var ex = Assert.Throws<InvalidDataException>(() => PiperConfig.Parse("""{"phoneme_id_map":{}}""", "bad.onnx.json"));
        Assert.Contains("sample_rate", ex.Message, StringComparison.Ordinal);
    }
}
