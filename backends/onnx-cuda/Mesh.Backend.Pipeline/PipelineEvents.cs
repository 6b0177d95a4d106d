namespace Mesh.Backend.Pipeline;

/// <summary>What a running pipeline produces, in order: per sentence a start, its audio, an end.</summary>
public abstract record PipelineEvent(int SentenceIndex);

/// <summary>
/// The first sentence's comes at once; a later one's with its first audio, after all of the sentence before it (speed
/// and resampling hold audio back, so that can be while the sentence after it is synthesized).
/// </summary>
public sealed record SentenceStarted(int SentenceIndex, string Text) : PipelineEvent(SentenceIndex);

/// <summary>Mono samples in [-1, 1] at the job's output rate, after speed and resampling.</summary>
public sealed record AudioProduced(int SentenceIndex, float[] Samples) : PipelineEvent(SentenceIndex);

public sealed record SentenceCompleted(int SentenceIndex) : PipelineEvent(SentenceIndex);
