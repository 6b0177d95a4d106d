using System.Text.Json;
using Mesh.Contracts;

namespace Mesh.Tests.Contracts;

public sealed class CatalogTests
{
    private static ModelInfo Entry(string backend, string precision) =>
        new("tts-1", "model", "mesh", "kokoro", 24000, precision, "eager", [new ModelBackendInfo(backend, "v", "cuda", precision, "eager")]);

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
    public void A_model_without_an_engine_keeps_the_plain_openai_shape()
    {
        var espeak = new ModelInfo("espeak", "model", "mesh", "espeak", 22050);
        Assert.Same(espeak, ModelInfo.Merge([espeak, espeak]));
        var json = JsonSerializer.Serialize(new ModelList("list", [espeak]), ContractsJsonContext.Default.ModelList);
        Assert.Equal("""{"object":"list","data":[{"id":"espeak","object":"model","owned_by":"mesh","family":"espeak","sample_rate":22050}]}""", json);

        var int8 = JsonSerializer.Serialize(new ModelList("list", [Entry("b1", "int8")]), ContractsJsonContext.Default.ModelList);
        Assert.Contains("\"precision\":\"int8\",\"graphs\":\"eager\",\"backends\":[{\"backend\":\"b1\"", int8, StringComparison.Ordinal);
    }
}
