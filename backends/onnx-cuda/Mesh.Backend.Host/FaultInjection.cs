using System.ComponentModel.DataAnnotations;
using System.Runtime.CompilerServices;
using Mesh.Backend.ModelFamilies;

namespace Mesh.Backend.Host;

/// <summary>
/// Deliberate faults for drills and failure tests (section <c>Faults</c>): an engine that is slow per sentence, throws,
/// or hangs in a call that ignores cancellation, a model that is slow to load at start or on demand, a host slow to
/// answer its readiness probes, an encoder that fails to start. Off by default; a backend started with an engine fault logs a warning.
/// </summary>
public sealed class FaultOptions
{
    public const string Section = "Faults";

    /// <summary>Extra time each sentence takes on the engine (a hung or overloaded GPU).</summary>
    [Range(0, 600_000)]
    public int SentenceDelayMs { get; set; }

    /// <summary>
    /// Time each sentence blocks its worker's thread before it runs, deaf to cancellation (a native engine call that
    /// hangs: a wedged CUDA kernel), so that shutdown can be drilled with a sentence that never ends.
    /// </summary>
    [Range(0, 600_000)]
    public int SentenceHangMs { get; set; }

    /// <summary>Share of sentences whose synthesis throws (a failing engine), 0 to 1.</summary>
    [Range(0.0, 1.0)]
    public double FailureRatio { get; set; }

    /// <summary>Extra time before the model starts loading (a slow restart), so readiness lags the process start.</summary>
    [Range(0, 600_000)]
    public int StartupDelayMs { get; set; }

    /// <summary>
    /// Extra time a load on demand takes (the first request's with <c>PRELOAD_MODEL=false</c>, or the next after
    /// <c>IDLE_UNLOAD_SECONDS</c>): a large model read from a slow disk, which the requests that need it wait for.
    /// </summary>
    [Range(0, 600_000)]
    public int ReloadDelayMs { get; set; }

    /// <summary>Extra time <c>/readyz</c> takes to answer while requests are under way (a host too busy to answer its probes in time, still streaming).</summary>
    [Range(0, 600_000)]
    public int ProbeDelayMs { get; set; }

    /// <summary>
    /// Each response's encoder fails as it is created, as one whose native library (lame, libopus, libFLAC) fails its
    /// init would: after the request was admitted and took the model, before its stream owns either.
    /// </summary>
    public bool EncoderInitFailure { get; set; }

    /// <summary>Whether the model is wrapped; a startup, reload, probe delay or encoder fault needs no wrapper.</summary>
    public bool Enabled => SentenceDelayMs > 0 || SentenceHangMs > 0 || FailureRatio > 0;
}

/// <summary>Wraps a loaded model with the configured faults; warm-up runs on the real model before this applies.</summary>
public sealed class FaultInjectingModel(ISpeechModel inner, FaultOptions faults) : DelegatingSpeechModel(inner)
{
    public override async IAsyncEnumerable<AudioChunk> SynthesizeAsync(SynthesisRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (faults.SentenceHangMs > 0)
        {
            // Blocks the worker's thread and ignores the token, as a native engine call that never returns does.
            Thread.Sleep(faults.SentenceHangMs);
        }

        if (faults.SentenceDelayMs > 0)
        {
            await Task.Delay(faults.SentenceDelayMs, cancellationToken);
        }

        if (faults.FailureRatio > 0 && Random.Shared.NextDouble() < faults.FailureRatio)
        {
            throw new InvalidOperationException("Injected engine fault (Faults:FailureRatio).");
        }

        await foreach (var chunk in Inner.SynthesizeAsync(request, cancellationToken))
        {
            yield return chunk;
        }
    }
}
