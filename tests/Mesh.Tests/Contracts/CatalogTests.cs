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
        Assert.Equal("""{"object":"list","data":[{"id":"espeak","object":"model","created":1700000000,"owned_by":"mesh","family":"espeak","sample_rate":22050}]}""", json);

        var int8 = JsonSerializer.Serialize(new ModelList("list", [Entry("b1", "int8")]), ContractsJsonContext.Default.ModelList);
        Assert.Contains("\"precision\":\"int8\",\"graphs\":\"eager\",\"backends\":[{\"backend\":\"b1\"", int8, StringComparison.Ordinal);
    }
}
