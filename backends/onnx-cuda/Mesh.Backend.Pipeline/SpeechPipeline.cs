using System.Runtime.CompilerServices;
using Mesh.Backend.ModelFamilies;
using Mesh.Backend.Pipeline.Audio;

namespace Mesh.Backend.Pipeline;

/// <summary>What the pipeline synthesizes: validated text, a resolved voice, and the output format.</summary>
public sealed record SpeechJob(string Text, VoiceDescriptor Voice, double Speed, string ResponseFormat);

/// <summary>Encoded bytes and how many audio samples they carry (0 for headers and trailers).</summary>
public readonly record struct EncodedChunk(ReadOnlyMemory<byte> Bytes, int Samples);

/// <summary>Text → model audio chunks → encoded bytes, streamed as they are produced.</summary>
public sealed class SpeechPipeline(ISpeechModel model)
{
    public int OutputSampleRate => model.NativeSampleRate;

    public IAudioEncoder CreateEncoder(SpeechJob job) => AudioEncoders.Create(job.ResponseFormat, OutputSampleRate);

    /// <summary>Encoded bytes in order: container header, audio as the model makes it, trailer.</summary>
    public async IAsyncEnumerable<EncodedChunk> RunAsync(
        SpeechJob job, IAudioEncoder encoder, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var header = encoder.Begin();
        if (!header.IsEmpty)
        {
            yield return new EncodedChunk(header, 0);
        }

        var request = new SynthesisRequest(job.Text, job.Voice, job.Speed);
        await foreach (var chunk in model.SynthesizeAsync(request, cancellationToken))
        {
            yield return new EncodedChunk(encoder.Encode(chunk.Samples), chunk.Samples.Length);
        }

        var trailer = encoder.Finish();
        if (!trailer.IsEmpty)
        {
            yield return new EncodedChunk(trailer, 0);
        }
    }
}
