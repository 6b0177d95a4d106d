using System.Text.Encodings.Web;
using System.Text.Json;
using Google.Protobuf;
using Onnx;

namespace Mesh.ModelGeneration;

public static class ModelFiles
{
    public static readonly JsonWriterOptions Json = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void WriteModel(string path, ModelProto model)
    {
        using var file = File.Create(path);
        model.WriteTo(file);
    }

    public static void WriteJson(string path, Action<Utf8JsonWriter> write)
    {
        using var file = File.Create(path);
        using var writer = new Utf8JsonWriter(file, Json);
        write(writer);
    }
}
