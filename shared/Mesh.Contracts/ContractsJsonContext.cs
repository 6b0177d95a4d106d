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
