using System.Text.Json;
using Mesh.Contracts;

namespace Mesh.Tests.Contracts;

public sealed class CatalogTests
{
    private static ModelInfo Entry(string backend, string precision, long created = 1_700_000_000) =>
        new("tts-1", "model", created, "mesh", "kokoro", 24000, precision, "eager", [new ModelBackendInfo(backend, "v", "cuda", precision, "eager")]);

    [Fact]
    public void Entries_of_one_id_merge_their_backends_and_summarize_what_they_share()
    {
        var same = ModelInfo.Merge([Entry("b1", "int8"), Entry("b2", "int8")]);
        Assert.Equal(("int8", "eager"), (same.Precision, same.Graphs));
        Assert.Equal(["b1", "b2"], same.Backends!.Select(b => b.Backend));

        var mixed = ModelInfo.Merge([Entry("b1", "int8"), Entry("b2", "fp32")]);
        Assert.Equal(ModelInfo.Mixed, mixed.Precision);
        Assert.Equal(["int8", "fp32"], mixed.Backends!.Select(b => b.Precision));
    }

    [Fact]
    public void Merged_entries_are_created_when_the_first_backend_loaded_the_model_whichever_answered_first()
    {
        Assert.Equal(100, ModelInfo.Merge([Entry("b1", "int8", created: 300), Entry("b2", "int8", created: 100)]).Created);
        Assert.Equal(100, ModelInfo.Merge([Entry("b2", "int8", created: 100), Entry("b1", "int8", created: 300)]).Created);

        var espeak = new ModelInfo("espeak", "model", 300, "mesh", "espeak", 22050);
        Assert.Equal(100, ModelInfo.Merge([espeak, espeak with { Created = 100 }]).Created);
    }

    [Fact]
    public void A_model_without_an_engine_keeps_the_plain_openai_shape()
    {
        var espeak = new ModelInfo("espeak", "model", 1_700_000_000, "mesh", "espeak", 22050);
        Assert.Equal(espeak, ModelInfo.Merge([espeak, espeak]));
        var json = JsonSerializer.Serialize(new ModelList("list", [espeak]), ContractsJsonContext.Default.ModelList);
        Assert.Equal("""{"object":"list","data":[{"id":"espeak","object":"model","created":1700000000,"owned_by":"mesh","family":"espeak","sample_rate":22050,"pcm_sample_rate":22050}]}""", json);

        var int8 = JsonSerializer.Serialize(new ModelList("list", [Entry("b1", "int8")]), ContractsJsonContext.Default.ModelList);
        Assert.Contains("\"precision\":\"int8\",\"graphs\":\"eager\",\"backends\":[{\"backend\":\"b1\"", int8, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("gpt-4o-mini-tts-2025-12-15", "gpt-4o-mini-tts-2025-12-15")]
    [InlineData("gpt-4o-mini-tts-2025-03-20", "gpt-4o-mini-tts-2025-03-20")]
    [InlineData("tts-1-1106", "tts-1-1106")]
    [InlineData("TTS-1-HD-1106", "tts-1-hd-1106")]
    [InlineData("tts-1-hd-2024-02-29", "tts-1-hd-2024-02-29")]
    public void A_snapshot_of_an_openai_name_is_that_names_entry_under_the_snapshots_id(string id, string answered)
    {
        var alias = new ModelInfo(OpenAiModels.AliasOf(id)!, "model", 1_700_000_000, "mesh", "espeak", 22050);
        var models = ModelList.Of([new ModelInfo("espeak", "model", 1_700_000_000, "mesh", "espeak", 22050), alias]);

        Assert.Equal(alias with { Id = answered }, models.Find(id));
    }

    /// <remarks>Raw pcm carries no rate, so each entry states it: OpenAI's 24 kHz under its names and their snapshots.</remarks>
    [Theory]
    [InlineData("tts-1", 24000)]
    [InlineData("gpt-4o-mini-tts-2025-12-15", 24000)]
    [InlineData("espeak", 22050)]
    [InlineData("kokoro-2025-12-15", 22050)]
    public void An_entry_states_the_rate_its_pcm_comes_at_under_its_id(string id, int rate)
    {
        var models = ModelList.Of(OpenAiModels.Aliases.Append("espeak").Append("kokoro-2025-12-15").Select(a => new ModelInfo(a, "model", 1_700_000_000, "mesh", "espeak", 22050)));

        var json = JsonSerializer.SerializeToElement(models.Find(id)!, ContractsJsonContext.Default.ModelInfo);
        Assert.Equal(rate, json.GetProperty("pcm_sample_rate").GetInt32());
        Assert.Equal(22050, json.GetProperty("sample_rate").GetInt32());
    }

    [Theory]
    [InlineData("tts-1-2025-13-01")]
    [InlineData("tts-1-2025-12-32")]
    [InlineData("tts-1-9999")]
    [InlineData("tts-1-110")]
    [InlineData("tts-2-1106")]
    [InlineData("espeak-2025-12-15")]
    [InlineData("gpt-4o-mini-tts-2025-12-15-preview")]
    [InlineData("-2025-12-15")]
    public void Other_suffixes_name_no_openai_model(string id)
    {
        var models = ModelList.Of(OpenAiModels.Aliases.Append("espeak").Select(a => new ModelInfo(a, "model", 1_700_000_000, "mesh", "espeak", 22050)));

        Assert.Null(OpenAiModels.AliasOf(id));
        Assert.Null(models.Find(id));
    }
}
