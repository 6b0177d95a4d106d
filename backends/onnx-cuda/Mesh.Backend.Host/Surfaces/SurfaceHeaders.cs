using System.Globalization;
using Mesh.Backend.Pipeline.Audio;
using Mesh.Contracts;

namespace Mesh.Backend.Host.Surfaces;

internal static class SurfaceHeaders
{
    /// <summary>
    /// States the real output rate of raw PCM audio (the body, or base64 in SSE events), so PCM clients never have to
    /// guess. Encoded audio states its own format (a WAV or FLAC header, MP3 and Opus frames), so it gets none.
    /// </summary>
    public static void SetPcmFormat(HttpResponse response, int sampleRate)
    {
        response.Headers[MeshHeaders.PcmSampleRate] = sampleRate.ToString(CultureInfo.InvariantCulture);
        response.Headers[MeshHeaders.PcmBitDepth] = "16";
        response.Headers[MeshHeaders.PcmChannels] = "1";
    }

    /// <summary><see cref="SetPcmFormat"/> where <paramref name="encoder"/> writes raw PCM (WAV carries PCM too, behind its header).</summary>
    public static void SetPcmFormatIfRaw(HttpResponse response, IAudioEncoder encoder, int sampleRate)
    {
        if (encoder.ContentType == AudioFormats.ContentType(AudioFormats.Pcm))
        {
            SetPcmFormat(response, sampleRate);
        }
    }

    public static void SetEventStream(HttpResponse response)
    {
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        // Tells reverse proxies (nginx and the like) not to buffer the stream.
        response.Headers["X-Accel-Buffering"] = "no";
    }
}
