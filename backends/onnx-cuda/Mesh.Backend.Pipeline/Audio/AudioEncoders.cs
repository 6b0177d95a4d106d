using Mesh.Contracts;

namespace Mesh.Backend.Pipeline.Audio;

public static class AudioEncoders
{
    public static readonly IReadOnlyList<string> Supported =
        [AudioFormats.Mp3, AudioFormats.Opus, AudioFormats.Aac, AudioFormats.Flac, AudioFormats.Wav, AudioFormats.Pcm];

    /// <summary>
    /// The rate the encoder for <paramref name="format"/> takes audio made at <paramref name="sampleRate"/>: the same
    /// rate, except for Opus, which codes a few rates only; audio at another rate is resampled to 48 kHz, where Opus
    /// codes every bandwidth.
    /// </summary>
    public static int EncodingSampleRate(string format, int sampleRate) =>
        format == AudioFormats.Opus && !OggOpusEncoder.SampleRates.Contains(sampleRate) ? OggOpusEncoder.GranuleRate : sampleRate;

    /// <summary>
    /// The API's sample rates that <paramref name="format"/> carries as they are: those a request may name with it. For
    /// Opus that leaves out 12 kHz, which it codes but the API does not offer.
    /// </summary>
    public static IEnumerable<int> RequestableSampleRates(string format) =>
        AudioFormats.SampleRates.Where(rate => EncodingSampleRate(format, rate) == rate);

    /// <summary>An encoder for audio at <paramref name="sampleRate"/>, which must be <see cref="EncodingSampleRate"/>'s answer.</summary>
    /// <param name="streamed">
    /// The client asked for a stream: FLAC then flows frame by frame with its length unknown, rather than whole with an
    /// exact header. Every other format flows either way.
    /// </param>
    public static IAudioEncoder Create(string format, int sampleRate, bool streamed = false)
    {
        var encodingRate = EncodingSampleRate(format, sampleRate);
        if (encodingRate != sampleRate)
        {
            throw new ArgumentOutOfRangeException(
                nameof(sampleRate), sampleRate, $"The {format} encoder takes {encodingRate} Hz audio; resample to it first.");
        }

        return format switch
        {
            AudioFormats.Mp3 => new Mp3Encoder(sampleRate),
            AudioFormats.Opus => new OggOpusEncoder(sampleRate),
            AudioFormats.Aac => new AacEncoder(sampleRate),
            AudioFormats.Flac => new FlacEncoder(sampleRate, streamed),
            AudioFormats.Wav => new WavEncoder(sampleRate),
            AudioFormats.Pcm => new PcmEncoder(),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, "No encoder for this format."),
        };
    }
}
