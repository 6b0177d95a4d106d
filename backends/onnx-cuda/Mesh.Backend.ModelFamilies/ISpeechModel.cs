namespace Mesh.Backend.ModelFamilies;

/// <summary>
/// One loaded model of one family: text and a voice in, audio chunks at the family's native rate out.
/// </summary>
public interface ISpeechModel : IDisposable
{
    /// <summary>The model id clients name in <c>model</c>.</summary>
    string Id { get; }

    /// <summary>The family name (<c>espeak</c>, <c>kokoro</c>, <c>piper</c>, ...).</summary>
    string Family { get; }

    int NativeSampleRate { get; }

    IReadOnlyList<VoiceDescriptor> Voices { get; }

    /// <summary>The speeds the family renders natively (without a time stretch); 1.0 is always inside.</summary>
    SpeedRange NativeSpeed { get; }

    /// <summary>How the engine under the model runs it; null for a model without one (the built-in espeak voice).</summary>
    ModelRuntime? Runtime => null;

    /// <summary>Resolves a requested voice (and optional language) to one this model has, or null.</summary>
    VoiceDescriptor? ResolveVoice(string voice, string? language);

    /// <summary>Synthesizes one piece of text; chunks arrive as the family produces them.</summary>
    IAsyncEnumerable<AudioChunk> SynthesizeAsync(SynthesisRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Runs the model once on every inference worker, so no request meets a cold worker (first-run allocation,
    /// kernel selection). A family with a single synthesis thread needs nothing beyond one synthesis.
    /// </summary>
    Task WarmUpAsync(VoiceDescriptor voice, CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>How an engine runs a model: the active execution provider, the weight precision and the graph mode.</summary>
public sealed record ModelRuntime(string Provider, string Precision, string Graphs);

/// <param name="Id">The name clients use.</param>
/// <param name="Language">The language tag the voice speaks.</param>
/// <param name="FamilyVoice">The family's own name for the voice (an espeak voice spec, a style file, a speaker id).</param>
public sealed record VoiceDescriptor(string Id, string Language, string FamilyVoice);

/// <param name="Speed">Speaking rate multiplier, 1.0 is the family's normal rate.</param>
/// <param name="FirstAudioAwaited">
/// A client waits for this sentence's first audio (the first sentence of a request); later sentences are synthesized
/// ahead of playback, where a millisecond does not matter.
/// </param>
/// <param name="TextContinues">
/// More of the same text follows this piece: a family that marks the end of a sentence with a pause ends the piece
/// with it, as it would between two sentences of one text; the last piece of a text ends without it.
/// </param>
public sealed record SynthesisRequest(string Text, VoiceDescriptor Voice, double Speed, bool FirstAudioAwaited = false, bool TextContinues = false);

/// <summary>Mono samples in [-1, 1] at <paramref name="SampleRate"/>.</summary>
public sealed record AudioChunk(float[] Samples, int SampleRate)
{
    public TimeSpan Duration => TimeSpan.FromSeconds((double)Samples.Length / SampleRate);
}

/// <summary>A closed range of speed multipliers.</summary>
public readonly record struct SpeedRange(double Min, double Max)
{
    public static SpeedRange NormalOnly { get; } = new(1.0, 1.0);

    public double Clamp(double speed) => Math.Clamp(speed, Min, Max);
}
