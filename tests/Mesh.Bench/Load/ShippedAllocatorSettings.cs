namespace Mesh.Bench.Load;

/// <summary>
/// The allocator settings every launch of the product uses (the images and <c>./mesh up</c>), so the bench measures the
/// fleet as it ships. As with <c>./mesh up</c>, a variable already set in the bench's own environment wins.
/// </summary>
public static class ShippedAllocatorSettings
{
    public const string MallocArenaMax = "2";

    /// <summary>Backends only: their large object heap of per-sentence audio needs compacting; the gateway's stays near empty.</summary>
    public const string BackendGcConserveMemory = "9";

    public static IReadOnlyDictionary<string, string> For(bool backend)
    {
        var settings = new Dictionary<string, string> { ["MALLOC_ARENA_MAX"] = MallocArenaMax };
        if (backend)
        {
            settings["DOTNET_GCConserveMemory"] = BackendGcConserveMemory;
        }

        return settings.Where(s => string.IsNullOrEmpty(Environment.GetEnvironmentVariable(s.Key))).ToDictionary();
    }
}
