using System.Diagnostics;
using Mesh.Contracts;

namespace Mesh.Backend.Host;

/// <summary>
/// <c>REQUEST_TIMEOUT_SECONDS</c> for one request: cancels its work when no audio comes within the timeout of the
/// request's arrival, a wait for the model to load on demand included, and is disarmed by the first audio, so a long
/// stream is never cut. The token also follows the client's.
/// </summary>
public sealed class FirstAudioDeadline : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly TimeSpan _timeout;
    private bool _disarmed;

    /// <param name="startTimestamp">The <see cref="Stopwatch"/> timestamp of the request's arrival, which the timeout counts from.</param>
    public FirstAudioDeadline(TimeSpan timeout, long startTimestamp, CancellationToken clientGone)
    {
        _timeout = timeout;
        _source = CancellationTokenSource.CreateLinkedTokenSource(clientGone);
        var left = timeout - Stopwatch.GetElapsedTime(startTimestamp);
        _source.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.Zero);
    }

    public CancellationToken Token => _source.Token;

    /// <summary>The error a request that hit the deadline gets.</summary>
    public ApiError Error => new(
        StatusCodes.Status504GatewayTimeout, $"No audio was produced within {_timeout.TotalSeconds:0} s.", ErrorTypes.Server, null, "timeout");

    /// <summary>Audio was produced (even if an encoder holds its bytes back): the deadline no longer applies.</summary>
    public void OnAudio()
    {
        if (!_disarmed)
        {
            _disarmed = true;
            _source.CancelAfter(Timeout.InfiniteTimeSpan);
        }
    }

    public void Dispose() => _source.Dispose();
}
