using System.Collections.Concurrent;
using Mesh.Backend.Engine;

namespace Mesh.Tests.Engine;

internal sealed class RecordingObserver : IEngineObserver
{
    public ConcurrentQueue<ProviderSelection> Providers { get; } = new();

    public ConcurrentQueue<EngineRunTiming> Runs { get; } = new();

    public void ProviderSelected(string model, ProviderSelection selection) => Providers.Enqueue(selection);

    public void RunCompleted(in EngineRunTiming timing) => Runs.Enqueue(timing);
}
