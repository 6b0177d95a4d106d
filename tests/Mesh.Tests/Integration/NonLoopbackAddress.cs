using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Mesh.Tests.Integration;

/// <summary>An IPv4 address of this machine that is not loopback: a server bound to it sees its own client as a remote one.</summary>
public static class NonLoopbackAddress
{
    public static IPAddress? Find() => NetworkInterface.GetAllNetworkInterfaces()
        .Where(network => network.OperationalStatus == OperationalStatus.Up && network.NetworkInterfaceType != NetworkInterfaceType.Loopback)
        .SelectMany(network => network.GetIPProperties().UnicastAddresses)
        .Select(unicast => unicast.Address)
        .FirstOrDefault(address => address.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(address));
}

/// <summary>A test that needs a <see cref="NonLoopbackAddress"/>; skipped, with the reason, on a machine without one.</summary>
public sealed class NonLoopbackFactAttribute : FactAttribute
{
    public NonLoopbackFactAttribute()
    {
        if (NonLoopbackAddress.Find() is null)
        {
            Skip = "This machine has no IPv4 address but loopback, so no client of it can be off loopback.";
        }
    }
}
