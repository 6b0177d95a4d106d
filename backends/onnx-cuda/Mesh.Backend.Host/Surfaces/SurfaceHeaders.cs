using System.Globalization;
using Mesh.Contracts;

namespace Mesh.Backend.Host.Surfaces;

internal static class SurfaceHeaders
{
    /// <summary>States the real output rate, so PCM clients never have to guess.</summary>
    public static void SetPcmRate(HttpResponse response, int sampleRate)
    {
        response.Headers[MeshHeaders.PcmSampleRate] = sampleRate.ToString(CultureInfo.InvariantCulture);
        response.Headers[MeshHeaders.PcmBitDepth] = "16";
        response.Headers[MeshHeaders.PcmChannels] = "1";
    }

    public static void SetEventStream(HttpResponse response, int sampleRate)
    {
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        // Tells reverse proxies (nginx and the like) not to buffer the stream.
        response.Headers["X-Accel-Buffering"] = "no";
        SetPcmRate(response, sampleRate);
    }
}
