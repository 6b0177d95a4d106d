namespace Mesh.Backend.Host;

/// <summary>
/// Ends a stream whose client stopped reading but stays connected (<see cref="Mesh.Contracts.Http.WriteStallGuard"/>).
/// The connection is aborted, not sent an error: the client reads nothing, so nothing sent would reach it.
/// </summary>
public static partial class StalledStreams
{
    public static void End(HttpContext context, ILogger logger, string requestId, TimeSpan timeout, string[] labels)
    {
        BackendMetrics.StalledStreams.WithLabels(labels).Inc();
        LogStalled(logger, requestId, timeout.TotalSeconds);
        context.Abort();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Request {RequestId}: the client took none of the stream for {StallSeconds} s; the stream is ended")]
    private static partial void LogStalled(ILogger logger, string requestId, double stallSeconds);
}
