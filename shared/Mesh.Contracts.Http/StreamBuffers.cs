using System.ComponentModel.DataAnnotations;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Mesh.Contracts.Http;

/// <summary>
/// How much of a stream may wait in the kernel for a slow reader. Synthesis runs only as far ahead as the response's
/// writes are taken, so these buffers are what a reader that stops lets the engine make for nobody: left to Linux's
/// autotuning they grew to megabytes per socket, and a 4,096-character text (about 4 minutes of audio) was synthesized
/// almost whole for a client that had read nothing.
/// </summary>
public class StreamBufferOptions
{
    public const int MinBytes = 4 * 1024;
    public const int MaxBytes = 16 * 1024 * 1024;

    /// <summary>
    /// SO_SNDBUF of the listening socket, which every accepted connection inherits (and which turns its autotuning off).
    /// A connection carries at most about a send buffer per round trip, so 256 KiB at 100 ms RTT is 2.6 MB/s: 27 times
    /// real time for 48 kHz PCM or WAV (96 kB/s), 20 times as base64 SSE; in a cluster (RTT under 1 ms) hundreds of MB/s.
    /// </summary>
    [Range(MinBytes, MaxBytes)]
    public int SendBufferBytes { get; set; } = 256 * 1024;

    /// <summary>
    /// A stream whose write takes no slice of it for this long is ended (<see cref="WriteStallGuard"/>): once the
    /// buffers above are full, a client that stops reading but stays connected would otherwise hold its request and its
    /// slots until it leaves.
    /// </summary>
    [Range(1, 3600)]
    public int StallTimeoutSeconds { get; set; } = 30;

    public TimeSpan StallTimeout => TimeSpan.FromSeconds(StallTimeoutSeconds);
}

public static class StreamBufferRegistration
{
    /// <summary>Binds <typeparamref name="TOptions"/> from <paramref name="section"/> and caps the listening sockets' send buffer with it.</summary>
    public static IServiceCollection AddStreamBuffers<TOptions>(this IServiceCollection services, string section)
        where TOptions : StreamBufferOptions
    {
        services.AddOptions<TOptions>().BindConfiguration(section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<SocketTransportOptions>().Configure<IOptions<TOptions>>(
            (sockets, buffers) => sockets.CreateBoundListenSocket = endpoint => WithSendBuffer(endpoint, buffers.Value.SendBufferBytes));
        return services;
    }

    private static Socket WithSendBuffer(System.Net.EndPoint endpoint, int bytes)
    {
        var socket = SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
        socket.SendBufferSize = bytes;
        return socket;
    }
}
