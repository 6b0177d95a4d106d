namespace Mesh.Tests.Integration;

/// <summary>Waiting for what a running process does in its own time: a reload, a probe, noticing a client has gone.</summary>
public static class Eventually
{
    /// <summary>Polls <paramref name="condition"/> every 100 ms and fails with <paramref name="failure"/> if it is not true within <paramref name="within"/> (20 s unless given).</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string failure, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(20));
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(100);
        }
    }
}
