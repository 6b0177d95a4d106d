using System.Net;
using System.Net.Sockets;

namespace Mesh.Tests.Integration;

public static class LoopbackPorts
{
    /// <summary>A port nothing listens on right now (the OS picks it, then it is released).</summary>
    public static int Unused()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static bool IsListening(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
