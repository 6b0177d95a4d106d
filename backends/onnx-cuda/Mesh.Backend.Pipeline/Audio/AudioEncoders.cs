using Mesh.Contracts;

namespace Mesh.Backend.Pipeline.Audio;

public static class AudioEncoders
{
    public static readonly IReadOnlyList<string> Supported = [AudioFormats.Wav, AudioFormats.Pcm];

    public static bool IsSupported(string format) => Supported.Contains(format);

    public static IAudioEncoder Create(string format, int sampleRate) => format switch
    {
        AudioFormats.Wav => new WavEncoder(sampleRate),
        AudioFormats.Pcm => new PcmEncoder(),
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "No encoder for this format."),
    };
}
