using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Mesh.Backend.ModelFamilies;

namespace Mesh.Tests.Backend;

/// <summary>
/// A model that takes a fixed time per sentence and returns a tone as long as the text, so pipeline timing can be
/// measured without a real engine. It records which sentences it was asked for.
/// </summary>
/// <param name="deafToCancellation">Whether a sentence runs its time out even when cancelled, as a native call that nothing interrupts does.</param>
public sealed class FakeSpeechModel(TimeSpan perSentence, int sampleRate = 24000, bool deafToCancellation = false) : ISpeechModel
{
    public static readonly VoiceDescriptor Voice = new("fake", "en", "fake");
    private readonly ConcurrentQueue<SynthesisRequest> _requests = new();

    public string Id => "fake";

    public string Family => "fake";

    public int NativeSampleRate => sampleRate;

    public IReadOnlyList<VoiceDescriptor> Voices => [Voice];

    public SpeedRange NativeSpeed => new(0.5, 2.0);

    public int SentencesStarted => _requests.Count;

    public IReadOnlyCollection<SynthesisRequest> Requests => _requests;

    public VoiceDescriptor? ResolveVoice(string voice, string? language) => voice == Voice.Id ? Voice : null;

    public async IAsyncEnumerable<AudioChunk> SynthesizeAsync(SynthesisRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        _requests.Enqueue(request);
        await Task.Delay(perSentence, deafToCancellation ? CancellationToken.None : cancellationToken);
        var samples = new float[request.Text.Length * sampleRate / 100];
        for (var i = 0; i < samples.Length; i++)
        {
            samples[i] = 0.3f * MathF.Sin(2 * MathF.PI * 220 * i / sampleRate);
        }

        yield return new AudioChunk(samples, sampleRate);
    }

    public void Dispose()
    {
    }
}
