namespace Mesh.Tests.Integration;

/// <summary>One gateway in front of two real backends, shared by the integration tests of a collection.</summary>
public sealed class MeshFleet : IAsyncLifetime
{
    private readonly List<HostProcess> _backends = [];

    private HostProcess? _gateway;

    public HostProcess Gateway => _gateway ?? throw new InvalidOperationException("The fleet's gateway did not start.");

    public IReadOnlyList<HostProcess> Backends => _backends;

    public HttpClient CreateGatewayClient() => new() { BaseAddress = Gateway.Url, Timeout = TimeSpan.FromSeconds(60) };

    public HttpClient CreateBackendClient(int index) => new() { BaseAddress = _backends[index].Url, Timeout = TimeSpan.FromSeconds(60) };

    public async Task InitializeAsync()
    {
        for (var i = 1; i <= 2; i++)
        {
            _backends.Add(await HostProcess.StartAsync(RepoPaths.BackendDll, [$"--Backend:Name=test-b{i}", "--Backend:Variant=test"]));
        }

        _gateway = await StartGatewayAsync(_backends.Select(b => b.Url));
        foreach (var backend in _backends)
        {
            await backend.WaitReadyAsync(TimeSpan.FromSeconds(60));
        }

        await Gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>Starts a real backend process and waits until it is ready.</summary>
    public static Task<HostProcess> StartBackendAsync(string name, string variant = "test", params string[] args) =>
        HostProcess.StartAsync(RepoPaths.BackendDll, [$"--Backend:Name={name}", $"--Backend:Variant={variant}", .. args], readyTimeout: TimeSpan.FromSeconds(60));

    /// <summary>Starts a gateway whose shared pool holds <paramref name="backendUrls"/> (variant <c>test</c>).</summary>
    public static Task<HostProcess> StartGatewayAsync(IEnumerable<Uri> backendUrls, params string[] extraArgs) =>
        HostProcess.StartAsync(
            RepoPaths.GatewayDll,
            backendUrls.SelectMany((url, i) => FleetArgs(i, $"b{i}", url, "shared", "test")).Concat(extraArgs));

    /// <summary>Command-line configuration that declares one backend of the gateway's fleet.</summary>
    public static IEnumerable<string> FleetArgs(int index, string name, Uri url, string pool, string variant) =>
    [
        $"--Mesh:Fleet:Backends:{index}:Name={name}",
        $"--Mesh:Fleet:Backends:{index}:Address={url}",
        $"--Mesh:Fleet:Backends:{index}:Pool={pool}",
        $"--Mesh:Fleet:Backends:{index}:Variant={variant}",
    ];

    public async Task DisposeAsync()
    {
        // A start that failed part way leaves whatever did start to stop here.
        if (_gateway is not null)
        {
            await _gateway.DisposeAsync();
        }

        foreach (var backend in _backends)
        {
            await backend.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class MeshFleetDefinition : ICollectionFixture<MeshFleet>
{
    public const string Name = "mesh fleet";
}
