using Mesh.Backend.ModelFamilies;

namespace Mesh.Backend.Pipeline;

/// <summary>A validated request as the pipeline needs it.</summary>
/// <param name="Speed">Requested speed, 0.25–4.0; the family renders what it can natively, a time stretch does the rest.</param>
/// <param name="OutputSampleRate">The rate audio leaves the pipeline at (the model's native rate unless asked otherwise).</param>
/// <param name="Priority">The scheduling class, <c>realtime</c> or <c>batch</c>.</param>
public sealed record SpeechJob(
    ISpeechModel Model,
    string Text,
    VoiceDescriptor Voice,
    double Speed,
    int OutputSampleRate,
    string Priority);
