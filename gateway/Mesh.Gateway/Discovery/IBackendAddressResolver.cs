using System.Net;
using System.Net.Sockets;

namespace Mesh.Gateway.Discovery;

/// <summary>
/// Turns a backend host name into its current addresses. Throws (a <see cref="SocketException"/> for an unknown name,
/// as DNS does) when it cannot answer; <see cref="BackendDiscovery"/> then keeps the last addresses it had.
/// </summary>
public interface IBackendAddressResolver
{
    Task<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken cancellationToken);
}

/// <summary>The production resolver: the system's DNS (in a pod, kube DNS), asked afresh on every call.</summary>
public sealed class DnsAddressResolver : IBackendAddressResolver
{
    public async Task<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken cancellationToken) =>
        await Dns.GetHostAddressesAsync(host, cancellationToken);
}

/// <summary>
/// Resolves from a file in hosts(5) format (<c>ADDRESS NAME [ALIAS...]</c>, <c>#</c> comments) read on every call, so
/// whoever owns the file scales a pool by editing it. A name the file does not list is unknown: no fallback to DNS, so
/// the file alone says what a pool holds.
/// </summary>
public sealed class HostsFileAddressResolver(string path) : IBackendAddressResolver
{
    public string Path { get; } = path;

    public async Task<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        var addresses = new List<IPAddress>();
        foreach (var line in await File.ReadAllLinesAsync(Path, cancellationToken))
        {
            var fields = line.Split('#', 2)[0].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 2 && IPAddress.TryParse(fields[0], out var address) &&
                fields.Skip(1).Contains(host, StringComparer.OrdinalIgnoreCase))
            {
                addresses.Add(address);
            }
        }

        return addresses.Count > 0 ? addresses : throw new SocketException((int)SocketError.HostNotFound);
    }
}
