using System.Text;
using Mesh.Backend.Host.Surfaces;
using Mesh.Backend.Pipeline;

namespace Mesh.Tests.Backend;

public sealed class SentenceSseSurfaceTests
{
    [Fact]
    public async Task Audio_counts_as_made_when_it_comes_and_is_sent_with_its_sentence()
    {
        using var surface = new SentenceSseSurface(8000);

        Assert.Equal(SurfaceOutput.None, await surface.RenderAsync(new SentenceStarted(0, "Hi."), CancellationToken.None));
        var audio = await surface.RenderAsync(new AudioProduced(0, new float[160]), CancellationToken.None);
        var sentence = await surface.RenderAsync(new SentenceCompleted(0), CancellationToken.None);

        // The first-audio deadline and the stream clock count the samples as they come; the bytes go with the event.
        Assert.True(audio.Bytes.IsEmpty);
        Assert.Equal(160, audio.AudioSamples);
        Assert.Equal(0, sentence.AudioSamples);
        var frame = Encoding.UTF8.GetString(sentence.Bytes.Span);
        Assert.Contains($"\"audio\":\"{Convert.ToBase64String(new byte[320])}\"", frame, StringComparison.Ordinal);
    }
}
