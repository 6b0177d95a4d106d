namespace Mesh.Contracts;

/// <summary>Header names of the public contract.</summary>
public static class MeshHeaders
{
    public const string RequestId = "X-Request-Id";
    public const string Variant = "X-Mesh-Variant";
    public const string Backend = "X-Mesh-Backend";
    public const string QueueMs = "X-Mesh-Queue-Ms";
    public const string Priority = "X-Priority";
    public const string PcmSampleRate = "X-PCM-Sample-Rate";
    public const string PcmBitDepth = "X-PCM-Bit-Depth";
    public const string PcmChannels = "X-PCM-Channels";

    /// <summary>The OpenAI SDKs' retry hints: <c>false</c> or <c>true</c> overrules their own rule of which statuses to retry.</summary>
    public const string ShouldRetry = "X-Should-Retry";

    /// <summary>The OpenAI SDKs' <c>Retry-After</c> in milliseconds, read before <c>Retry-After</c>.</summary>
    public const string RetryAfterMs = "Retry-After-Ms";
}
