namespace Mesh.Backend.Host;

/// <summary>
/// Counts and logs a stream whose client stopped reading but stays connected. Its guard
/// (<see cref="Mesh.Contracts.Http.WriteStallGuard"/>) has aborted the connection rather than send an error: the client
/// reads nothing, so nothing sent would reach it.
/// </summary>
public static partial class StalledStreams
{
    public static void Count(ILogger logger, string requestId, TimeSpan timeout, string[] labels)
    {
        BackendMetrics.StalledStreams.WithLabels(labels).Inc();
        LogStalled(logger, requestId, timeout.TotalSeconds);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Request {RequestId}: the client took none of the stream for {StallSeconds} s; the stream is ended")]
    private static partial void LogStalled(ILogger logger, string requestId, double stallSeconds);
}
