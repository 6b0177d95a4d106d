using System.Diagnostics;
using System.Runtime.CompilerServices;
using Mesh.Backend.ModelFamilies;
using Mesh.Backend.Pipeline.Scheduling;
using Mesh.Contracts;
using Mesh.Contracts.Http;
using Microsoft.Extensions.Options;

namespace Mesh.Backend.Host;

/// <summary>
/// The model's lifecycle: load and warm up at start (<c>PRELOAD_MODEL</c>) or on first use, unload after
/// <c>IDLE_UNLOAD_SECONDS</c> without requests and reload on demand. <c>/readyz</c> follows it honestly: not ready
/// while the start-up load runs or after it failed; ready when loaded or when a request would load it, also after a
/// load on demand failed, which the next request tries again.
/// </summary>
public sealed partial class ModelHost(
    IOptions<EngineOptions> options,
    IOptions<FaultOptions> faults,
    EngineMetrics engineMetrics,
    DrainState drain,
    EngineWorkDeadline engineWork,
    ILogger<ModelHost> logger)
    : BackgroundService
{
    private const string WarmUpText = "Warm up.";

    private readonly SemaphoreSlim _loadLock = new(1, 1);
    // Taking and returning leases, publishing a loaded model, unloading and disposing it do not interleave: unload and
    // disposal check for leases and take the model at once, and disposal waits on this gate for the last lease.
    private readonly object _leaseGate = new();
    // Cancelled as disposal begins: a load on demand still running then disposes what it loads instead of serving it.
    private readonly CancellationTokenSource _disposal = new();
    private volatile ISpeechModel? _model;
    // Outlives an idle unload: the model is still what this backend serves, and the next request reloads it.
    private volatile ModelDescription? _description;
    private volatile string _status = "loading";
    // Set once a request may load the model (PRELOAD_MODEL=false, or after an idle unload): from then on a load under
    // way keeps the backend ready, and the requests that arrive meanwhile wait for it instead of getting 503.
    private volatile bool _loadsOnDemand;
    // Set by a failed first load (at start, or the first on demand with PRELOAD_MODEL=false): the backend then stays
    // unready, as a model that never loaded is a deployment fault.
    private volatile bool _failed;
    // Loads on demand that failed: a request that waited for one of them gets its outcome instead of loading again.
    private int _failedLoadsOnDemand;
    private int _inUse;
    private int _disposed;
    private long _lastUsed = Stopwatch.GetTimestamp();

    /// <summary>The ids listed for the model <paramref name="modelId"/>: its own, then OpenAI's (whose snapshots it also serves).</summary>
    public static IEnumerable<string> IdsOf(string modelId) => OpenAiModels.Aliases.Prepend(modelId);

    /// <summary>The loaded model, or null while none is loaded.</summary>
    public ISpeechModel? Model => _model;

    /// <summary>The id of the model this backend serves, loaded or unloaded after <c>IDLE_UNLOAD_SECONDS</c>; null before any load.</summary>
    public string? ServedModelId => _description?.Id;

    public string Status => drain.IsDraining ? "draining" : _status;

    /// <summary>Set when shutdown begins: readiness turns false and new requests are refused so the gateway moves them.</summary>
    public bool IsDraining => drain.IsDraining;

    /// <summary>True when a request would be served: the model is loaded, or unloaded on purpose and loadable on demand.</summary>
    public bool IsReady => !_failed && !drain.IsDraining && (_model is not null || _loadsOnDemand);

    /// <summary>
    /// What this backend serves, for <c>/v1/models</c> and <c>/v1/audio/voices</c>: the loaded model, or the one unloaded
    /// after <c>IDLE_UNLOAD_SECONDS</c>. A model not loaded yet (<c>PRELOAD_MODEL=false</c>) is loaded as a request would
    /// load it. Null while none is served: the start-up load is under way or failed.
    /// </summary>
    public async Task<ModelDescription?> DescribeAsync(CancellationToken cancellationToken)
    {
        if (_failed)
        {
            return null;
        }

        if (_description is { } known)
        {
            return known;
        }

        using var lease = await AcquireAsync(cancellationToken);
        return lease is null ? null : _description;
    }

    /// <summary>The leases held now: one per request, and one per sentence while its engine call runs.</summary>
    internal int LeasesHeld => Volatile.Read(ref _inUse);

    public static bool Serves(ISpeechModel model, string requested) =>
        string.Equals(requested, model.Id, StringComparison.OrdinalIgnoreCase) || OpenAiModels.AliasOf(requested) is not null;

    /// <summary>The model for one request, loading it first if it was unloaded; dispose the lease when the request ends.</summary>
    public async Task<ModelLease?> AcquireAsync(CancellationToken cancellationToken)
    {
        ISpeechModel? loaded;
        lock (_leaseGate)
        {
            _inUse++;
            loaded = _model;
        }

        try
        {
            // Only a model unloaded on purpose (or never preloaded) is loaded by a request; while the start-up load is
            // under way the backend is not ready, and says so, rather than serving before /readyz does.
            var model = loaded ?? (_loadsOnDemand ? await LoadOnDemandAsync(cancellationToken) : null);
            if (model is null)
            {
                Release();
                return null;
            }

            return new ModelLease(model, this);
        }
        catch
        {
            Release();
            throw;
        }
    }

    /// <summary>
    /// Frees the model once no request or sentence holds it, waiting for those still running (a drain that timed out) until
    /// the <see cref="EngineWorkDeadline"/> the scheduler's disposal shares: a sentence stuck on the engine holds both, and
    /// is waited for once. A model still in use then is left to the process exit, never freed under them.
    /// </summary>
    public override void Dispose()
    {
        // The container may dispose this service twice: it is registered as itself and, through a factory, as a hosted service.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        // Both before the gate is taken, so that a load that publishes after it sees them (LoadAsync). The base cancels the
        // stopping token, which the start-up load watches, for a host disposed without stopping (a failed start). A load's
        // callbacks on the disposal token run apart: one may wait for a session ONNX Runtime is still creating.
        base.Dispose();
        _ = _disposal.CancelAsync();
        var holders = Volatile.Read(ref _inUse);
        var timeLeft = engineWork.TimeLeft();
        if (holders > 0 && timeLeft > TimeSpan.Zero)
        {
            LogWaitingForLeases(logger, holders, timeLeft.TotalSeconds);
        }

        ISpeechModel? model;
        ISpeechModel? leftInUse;
        lock (_leaseGate)
        {
            while (_inUse > 0 && timeLeft > TimeSpan.Zero)
            {
                Monitor.Wait(_leaseGate, timeLeft);
                timeLeft = engineWork.TimeLeft();
            }

            holders = _inUse;
            // Taken as an idle unload takes it, so the two never dispose one model twice.
            model = TakeIdleModel();
            leftInUse = _model;
        }

        if (leftInUse is not null)
        {
            LogLeftUndisposed(logger, leftInUse.Id, holders, engineWork.Wait.TotalSeconds);
        }

        model?.Dispose();
        // Neither the load lock nor the disposal token source is disposed: a load still running when the host is disposed
        // (after a failed start, or a shutdown that stopped waiting for it) still uses them until it ends, and neither
        // holds anything to free while its wait handle is never read.
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        try
        {
            await StartUpAsync(stoppingToken);
            await UnloadWhenIdleAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The host is stopping, or failed to start (an address in use): neither is this service's failure to log.
        }
    }

    private async Task StartUpAsync(CancellationToken stoppingToken)
    {
        if (faults.Value.StartupDelayMs > 0)
        {
            await Task.Delay(faults.Value.StartupDelayMs, stoppingToken);
        }

        if (!options.Value.PreloadModel)
        {
            _status = "unloaded";
            _loadsOnDemand = true;
            return;
        }

        // ONNX Runtime creates a session in one blocking call that nothing interrupts: the load runs apart, and on
        // shutdown the host stops waiting for it rather than hold the process until it ends. It then ends on its own,
        // disposes what it loaded and releases the lock.
        await Task.Run(() => LoadLockedAsync(TimeSpan.Zero, _failedLoadsOnDemand, stoppingToken, stoppingToken), stoppingToken).WaitAsync(stoppingToken);
    }

    private async Task UnloadWhenIdleAsync(CancellationToken stoppingToken)
    {
        var seconds = options.Value.IdleUnloadSeconds;
        if (seconds <= 0)
        {
            return;
        }

        var idleLimit = TimeSpan.FromSeconds(seconds);
        // The limit is whole seconds: checking each second unloads at most a second late.
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            if (_model is not null && Volatile.Read(ref _inUse) == 0 && Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastUsed)) >= idleLimit)
            {
                await UnloadAsync(stoppingToken);
            }
        }
    }

    private void Release()
    {
        Interlocked.Exchange(ref _lastUsed, Stopwatch.GetTimestamp());
        lock (_leaseGate)
        {
            // The last lease returned wakes a disposal waiting for it.
            if (--_inUse == 0)
            {
                Monitor.PulseAll(_leaseGate);
            }
        }
    }

    /// <summary>
    /// A lease for one engine call on <paramref name="model"/>, or null once it is no longer the model served: the
    /// request behind a sentence may have returned its own lease, and an unload or disposal taken the model, before a
    /// worker got to the sentence.
    /// </summary>
    private ModelLease? TryHold(ISpeechModel model)
    {
        lock (_leaseGate)
        {
            if (_model != model)
            {
                return null;
            }

            _inUse++;
        }

        return new ModelLease(model, this);
    }

    /// <summary>Takes the model out of service unless a request holds it; the caller holds the lease gate.</summary>
    private ISpeechModel? TakeIdleModel()
    {
        if (_inUse > 0)
        {
            return null;
        }

        var model = _model;
        _model = null;
        return model;
    }

    /// <summary>
    /// Loads the model for a request. The request's token bounds only its own wait: the load serves every request after
    /// it, so a client that leaves does not abandon it half done; disposal of the host does. The load runs apart, as at
    /// start, because quantizing and creating a session block for seconds where a request's thread should not.
    /// </summary>
    private Task<ISpeechModel?> LoadOnDemandAsync(CancellationToken cancellationToken)
    {
        var failedLoads = Volatile.Read(ref _failedLoadsOnDemand);
        return Task.Run(
                () => LoadLockedAsync(TimeSpan.FromMilliseconds(faults.Value.ReloadDelayMs), failedLoads, cancellationToken, _disposal.Token),
                cancellationToken)
            .WaitAsync(cancellationToken);
    }

    /// <param name="failedLoadsSeen">
    /// <see cref="_failedLoadsOnDemand"/> as the caller asked: a load that failed while it waited for the lock answers it
    /// too, so the requests queued behind a failing load fail with it rather than each load again in turn.
    /// </param>
    private async Task<ISpeechModel?> LoadLockedAsync(
        TimeSpan faultDelay, int failedLoadsSeen, CancellationToken lockCancellation, CancellationToken loadCancellation)
    {
        await _loadLock.WaitAsync(lockCancellation);
        try
        {
            return failedLoadsSeen == _failedLoadsOnDemand ? await LoadAsync(faultDelay, loadCancellation) : null;
        }
        finally
        {
            _loadLock.Release();
        }
    }

    /// <summary>Loads and warms up the model, after <paramref name="faultDelay"/> (a fault to drill); the caller holds the load lock.</summary>
    private async Task<ISpeechModel?> LoadAsync(TimeSpan faultDelay, CancellationToken cancellationToken)
    {
        if (_model is not null || _failed)
        {
            return _model;
        }

        var previousStatus = _status;
        _status = _loadsOnDemand ? "loading on demand" : "loading";
        var settings = options.Value;
        var started = Stopwatch.GetTimestamp();
        ISpeechModel? model = null;
        try
        {
            await Task.Delay(faultDelay, cancellationToken);
            model = await SpeechModelLoader.LoadAsync(settings.Model, settings.ToEngineSettings(), engineMetrics, logger, cancellationToken);
            var voice = model.ResolveVoice(settings.DefaultVoice, null)
                ?? throw new ModelLoadException($"DEFAULT_VOICE '{settings.DefaultVoice}' is not a voice of model '{model.Id}'.");
            await WarmUpAsync(model, voice, cancellationToken);
            Interlocked.Exchange(ref _lastUsed, Stopwatch.GetTimestamp());
            if (faults.Value.Enabled)
            {
                LogFaults(logger, faults.Value.SentenceHangMs, faults.Value.SentenceDelayMs, faults.Value.FailureRatio);
                model = new FaultInjectingModel(model, faults.Value);
            }

            model = new ServedModel(model, this);

            lock (_leaseGate)
            {
                // A load that outlived the host's wait for it (shutdown, or disposal for a load on demand) ends here,
                // without serving. Under the gate Dispose takes the model under, which it cancels before: the model is
                // either published before Dispose looks, or never.
                cancellationToken.ThrowIfCancellationRequested();
                // A reload after an idle unload keeps the first load's time, so the catalogue's `created` does not move
                // while this backend serves the same model.
                _description = ModelDescription.Of(model, _description?.FirstLoaded ?? DateTimeOffset.UtcNow);
                _model = model;
                _status = "ready";
            }

            var elapsed = Stopwatch.GetElapsedTime(started);
            LogReady(logger, model.Id, model.Family, model.NativeSampleRate, model.Voices.Count, elapsed.TotalMilliseconds);
            return model;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutdown during the start-up load, or disposal during a load on demand. Any other cancellation (a timeout
            // inside the loader) is a failure to load, below.
            model?.Dispose();
            _status = previousStatus;
            LogLoadAbandoned(logger);
            throw;
        }
        catch (Exception ex)
        {
            // Any failure, expected (a bad package) or not, leaves no half-loaded engine and a reason on /readyz.
            model?.Dispose();
            if (_description is not null)
            {
                // A reload of a model this process served before (after an idle unload): what failed now (a package
                // being replaced, a disk not yet mounted) may be gone by the next request, which tries again. Latched,
                // the backend would stay unready for good, as nothing restarts a process that is still running. A first
                // load, at start or on demand, that fails is latched: the package is wrong, and an unready backend is
                // taken out of rotation rather than load it again for every request.
                Interlocked.Increment(ref _failedLoadsOnDemand);
                _status = $"unloaded; its last load failed: {ex.Message}";
                LogLoadOnDemandFailed(logger, ex.Message);
                return null;
            }

            _failed = true;
            _status = $"model failed to load: {ex.Message}";
            LogLoadFailed(logger, ex.Message);
            return null;
        }
    }

    private async Task UnloadAsync(CancellationToken cancellationToken)
    {
        await _loadLock.WaitAsync(cancellationToken);
        try
        {
            ISpeechModel? model;
            lock (_leaseGate)
            {
                // A request may have taken the model while we waited for the lock.
                model = TakeIdleModel();
                if (model is null)
                {
                    return;
                }

                _status = "unloaded";
                _loadsOnDemand = true;
            }

            model.Dispose();
            LogUnloaded(logger, model.Id, options.Value.IdleUnloadSeconds);
        }
        finally
        {
            _loadLock.Release();
        }
    }

    private static async Task WarmUpAsync(ISpeechModel model, VoiceDescriptor voice, CancellationToken cancellationToken)
    {
        await model.WarmUpAsync(voice, cancellationToken);
        var samples = 0;
        await foreach (var chunk in model.SynthesizeAsync(new SynthesisRequest(WarmUpText, voice, 1.0), cancellationToken))
        {
            samples += chunk.Samples.Length;
        }

        if (samples == 0)
        {
            throw new ModelLoadException($"Model '{model.Id}' produced no audio during warm-up.");
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {Model} ({Family}, {SampleRate} Hz, {Voices} voices) loaded and warmed up in {Milliseconds:0} ms")]
    private static partial void LogReady(ILogger logger, string model, string family, int sampleRate, int voices, double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Fault injection is ON: each sentence hangs {HangMs} ms ignoring cancellation, is delayed {DelayMs} ms and fails with probability {FailureRatio}")]
    private static partial void LogFaults(ILogger logger, int hangMs, int delayMs, double failureRatio);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Backend will not become ready: {Reason}")]
    private static partial void LogLoadFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Model failed to load on demand: {Reason}; its requests get 503 and the next one tries again")]
    private static partial void LogLoadOnDemandFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {Model} unloaded after {Seconds} s idle; the next request reloads it")]
    private static partial void LogUnloaded(ILogger logger, string model, int seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Model load abandoned: shutdown began before it ended; what it loaded is disposed, not served")]
    private static partial void LogLoadAbandoned(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Waiting up to {Seconds:0.0} s for {Leases} leases (requests, sentences on the engine) still holding the model before disposing it")]
    private static partial void LogWaitingForLeases(ILogger logger, int leases, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model {Model} left undisposed: {Leases} leases (requests, sentences on the engine) still hold it when the {Seconds} s given to work on the engine after the drain ran out; the process exit frees it")]
    private static partial void LogLeftUndisposed(ILogger logger, string model, int leases, double seconds);

    /// <summary>
    /// The model as it is served: each synthesis holds a lease of its own while the engine call runs, so a sentence still
    /// on a worker after its request returned its lease (cancelled, but in a native call nothing interrupts) keeps the
    /// model from being unloaded or disposed under it.
    /// </summary>
    private sealed class ServedModel(ISpeechModel inner, ModelHost host) : DelegatingSpeechModel(inner)
    {
        public override async IAsyncEnumerable<AudioChunk> SynthesizeAsync(
            SynthesisRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            using var hold = host.TryHold(this)
                ?? throw new ObjectDisposedException(Id, "The model was unloaded or disposed before this sentence reached the engine.");
            await foreach (var chunk in Inner.SynthesizeAsync(request, cancellationToken))
            {
                yield return chunk;
            }
        }
    }

    /// <summary>One request's (or one engine call's) use of the model; while any lease is held the model is not unloaded.</summary>
    public sealed class ModelLease : IDisposable
    {
        private ModelHost? _host;

        internal ModelLease(ISpeechModel model, ModelHost host)
        {
            Model = model;
            _host = host;
        }

        public ISpeechModel Model { get; }

        public void Dispose() => Interlocked.Exchange(ref _host, null)?.Release();
    }
}

/// <summary>A served model as the catalogue lists it; it holds no engine, so it stays valid after the model is unloaded.</summary>
/// <param name="FirstLoaded">When this backend first loaded the model: the catalogue's <c>created</c>.</param>
public sealed record ModelDescription(
    string Id, string Family, int NativeSampleRate, IReadOnlyList<VoiceDescriptor> Voices, ModelRuntime? Runtime, DateTimeOffset FirstLoaded)
{
    public static ModelDescription Of(ISpeechModel model, DateTimeOffset firstLoaded) =>
        new(model.Id, model.Family, model.NativeSampleRate, model.Voices, model.Runtime, firstLoaded);
}
