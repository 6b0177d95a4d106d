using Mesh.Backend.Pipeline.Scheduling;

namespace Mesh.Tests.Backend;

/// <summary>A scheduler observer for tests that read no queue figures.</summary>
internal sealed class NullSchedulerObserver : ISchedulerObserver
{
    public void Queued(string priority, int depth)
    {
    }

    public void Dequeued(string priority, int depth, TimeSpan wait)
    {
    }

    public void Withdrawn(string priority, int depth)
    {
    }
}
