using Mesh.Backend.ModelFamilies;

namespace Mesh.Backend.Host;

/// <summary>A model that is <paramref name="inner"/> in everything but how it synthesizes, which a subclass changes.</summary>
public abstract class DelegatingSpeechModel(ISpeechModel inner) : ISpeechModel
{
    public string Id => inner.Id;

    public string Family => inner.Family;

    public int NativeSampleRate => inner.NativeSampleRate;

    public IReadOnlyList<VoiceDescriptor> Voices => inner.Voices;

    public SpeedRange NativeSpeed => inner.NativeSpeed;

    public ModelRuntime? Runtime => inner.Runtime;

    protected ISpeechModel Inner => inner;

    public VoiceDescriptor? ResolveVoice(string voice, string? language) => inner.ResolveVoice(voice, language);

    public abstract IAsyncEnumerable<AudioChunk> SynthesizeAsync(SynthesisRequest request, CancellationToken cancellationToken);

    public Task WarmUpAsync(VoiceDescriptor voice, CancellationToken cancellationToken) => inner.WarmUpAsync(voice, cancellationToken);

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the inner model; a subclass that holds more frees it here too.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }
    }
}
