using System.Net;
using System.Net.Sockets;

namespace Mesh.Tests.Integration;

/// <summary>
/// A loopback port held bound but not listening, for as long as this lives: connecting to it is refused at once, and
/// no socket that asks the OS for a free port is given it, as a port from <see cref="LoopbackPorts.Unused"/> can be
/// once released. A .NET server told to listen on it still may: .NET binds TCP sockets with SO_REUSEADDR, which Linux
/// lets share a port that nothing listens on.
/// </summary>
public sealed class ClosedPort : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

    public ClosedPort()
    {
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Port = ((IPEndPoint)_socket.LocalEndPoint!).Port;
    }

    public int Port { get; }

    public Uri Url => new($"http://127.0.0.1:{Port}/");

    public void Dispose() => _socket.Dispose();
}
