using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mesh.Contracts;

[JsonSourceGenerationOptions(
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    NumberHandling = JsonNumberHandling.Strict,
    ReadCommentHandling = System.Text.Json.JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(SpeechRequest))]
[JsonSerializable(typeof(ErrorEnvelope))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(ModelInfo))]
[JsonSerializable(typeof(VoiceList))]
[JsonSerializable(typeof(VariantList))]
[JsonSerializable(typeof(SpeechAudioDelta))]
[JsonSerializable(typeof(SpeechAudioDone))]
[JsonSerializable(typeof(StreamEvent))]
public sealed partial class ContractsJsonContext : JsonSerializerContext;

/// <summary>
/// <see cref="Wire"/> writes what the default escaping would turn into <c>\uXXXX</c> as it is: that escaping is for JSON
/// inside HTML, and it wrote each <c>+</c> of base64 audio as six bytes (about 8% more) and each apostrophe of an error
/// message as <c>\u0027</c>.
/// </summary>
public sealed partial class ContractsJsonContext
{
    // Made on first use: the order of static initializers across the files of a partial class is not defined.
    private static ContractsJsonContext? s_wire;

    public static ContractsJsonContext Wire =>
        s_wire ??= new(new JsonSerializerOptions(Default.Options) { TypeInfoResolver = null, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
}
