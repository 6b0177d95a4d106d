namespace Mesh.Tests.Integration;

/// <summary>
/// One real backend behind a gateway of its own, for tests that need a gateway or backend configured apart (a subclass
/// names their arguments) or the backend's counters to themselves.
/// </summary>
public class SoloFleet : IAsyncLifetime
{
    private readonly string[] _backendArgs;
    private readonly string[] _gatewayArgs;
    private HostProcess? _backend;
    private HostProcess? _gateway;

    public SoloFleet()
        : this([])
    {
    }

    protected SoloFleet(params string[] gatewayArgs)
        : this([], gatewayArgs)
    {
    }

    protected SoloFleet(string[] backendArgs, string[] gatewayArgs)
    {
        _backendArgs = backendArgs;
        _gatewayArgs = gatewayArgs;
    }

    public HostProcess Backend => _backend ?? throw new InvalidOperationException("The backend did not start.");

    public HostProcess Gateway => _gateway ?? throw new InvalidOperationException("The gateway did not start.");

    public async Task InitializeAsync()
    {
        _backend = await MeshFleet.StartBackendAsync("b0", "test", _backendArgs);
        _gateway = await MeshFleet.StartGatewayAsync([_backend.Url], _gatewayArgs);
        await _gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
    }

    public async Task DisposeAsync()
    {
        if (_gateway is not null)
        {
            await _gateway.DisposeAsync();
        }

        if (_backend is not null)
        {
            await _backend.DisposeAsync();
        }
    }
}
