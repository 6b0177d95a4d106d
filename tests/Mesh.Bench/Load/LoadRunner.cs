using System.Diagnostics;

namespace Mesh.Bench.Load;

/// <summary>One request to send as part of a unit of work: which arm of a comparison, where, and what.</summary>
public sealed record Planned(string Arm, Target Target, BenchRequest Request);

/// <summary>How long a closed-loop run lasts: a duration, or a number of units of work over all clients.</summary>
/// <param name="RampUp">Each client starts at a random moment within this span, so the clients do not arrive in lockstep.</param>
/// <param name="Pause">A client waits this long before each request, so no request inherits the wake of the one before.</param>
/// <param name="Settle">
/// The load runs this long before anything is recorded: the processes compile their hot paths in full only after some
/// dozens of calls on them, and until then both arms ran several times slower than later in the phase.
/// </param>
public sealed record Budget(TimeSpan? Duration, int? Units, TimeSpan RampUp = default, TimeSpan Pause = default, TimeSpan Settle = default)
{
    public static Budget For(TimeSpan duration) => new(duration, null);

    public static Budget Count(int units) => new(null, units);
}

/// <summary>
/// Runs load and keeps every request's record. Closed loop: N clients, each sending its next unit of work as soon as
/// the last one finished (a unit is one request, or both arms of a comparison on the same text, in random order, so
/// the arms interleave and machine drift touches both alike). Open loop: Poisson arrivals at a rate, whatever the
/// target's speed.
/// </summary>
public sealed class LoadRunner(SpeechClient client, IBenchProgress progress)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<RequestRecord> _records = [];
    private readonly List<RunWindow> _windows = [];
    private int _nextWindow;

    public IReadOnlyList<RequestRecord> Records => _records;

    public IReadOnlyList<RunWindow> Windows => _windows;

    public double ElapsedSeconds => _clock.Elapsed.TotalSeconds;

    /// <summary>Closed loop with <paramref name="clients"/> clients; <paramref name="nextUnit"/> draws a unit from a client's own random source.</summary>
    public async Task<RunWindow> ClosedLoopAsync(
        string phase, string arm, string title, int clients, Budget budget, Func<Random, IReadOnlyList<Planned>> nextUnit, int seed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(budget);
        var window = Interlocked.Increment(ref _nextWindow);
        var records = new List<RequestRecord>();
        // Recording starts once the settle is over; the window and the duration count from there.
        var started = ElapsedSeconds + budget.Settle.TotalSeconds;
        var deadline = budget.Duration is { } duration ? started + duration.TotalSeconds : double.PositiveInfinity;
        var unitsLeft = budget.Units ?? int.MaxValue;
        var total = budget.Duration?.TotalSeconds ?? budget.Units ?? 1;
        var item = progress.Start(title, total);
        var errors = 0;
        var unitsDone = 0;

        void Report()
        {
            var value = budget.Duration is not null ? Math.Max(0, ElapsedSeconds - started) : Volatile.Read(ref unitsDone);
            int count;
            lock (records)
            {
                count = records.Count;
            }

            item.Update(value, ElapsedSeconds < started ? $"{title}: settling" : $"{title}: {count} requests, {Volatile.Read(ref errors)} failed");
        }

        async Task ClientAsync(int index)
        {
            var random = new Random(HashCode.Combine(seed, index));
            if (budget.RampUp > TimeSpan.Zero)
            {
                await Task.Delay(budget.RampUp * random.NextDouble(), cancellationToken);
            }

            while (ElapsedSeconds < deadline && !cancellationToken.IsCancellationRequested)
            {
                // A unit is recorded whole or not at all, so both arms of a pair count or neither does.
                var settling = ElapsedSeconds < started;
                if (!settling && Interlocked.Decrement(ref unitsLeft) < 0)
                {
                    break;
                }

                foreach (var planned in nextUnit(random))
                {
                    if (budget.Pause > TimeSpan.Zero)
                    {
                        await Task.Delay(budget.Pause, cancellationToken);
                    }

                    var record = await SendAsync(phase, planned, clients, window, cancellationToken);
                    if (settling)
                    {
                        continue;
                    }

                    lock (records)
                    {
                        records.Add(record);
                    }

                    if (!record.Result.Ok)
                    {
                        Interlocked.Increment(ref errors);
                    }
                }

                if (!settling)
                {
                    Interlocked.Increment(ref unitsDone);
                }

                Report();
            }
        }

        using var ticker = new CancellationTokenSource();
        var ticking = TickAsync(Report, ticker.Token);
        await Task.WhenAll(Enumerable.Range(0, clients).Select(i => Task.Run(() => ClientAsync(i), cancellationToken)));
        await ticker.CancelAsync();
        await ticking;
        cancellationToken.ThrowIfCancellationRequested();
        return Finish(new RunWindow(window, phase, arm, clients, 0, started, ElapsedSeconds), records, item, title, errors);
    }

    /// <summary>Poisson arrivals at <paramref name="rate"/> per second for <paramref name="duration"/>; then waits for the stragglers.</summary>
    public async Task<(RunWindow Window, int MaxInFlight)> OpenLoopAsync(
        string phase, string arm, string title, Target target, double rate, TimeSpan duration, Func<Random, BenchRequest> next, int seed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(next);
        var window = Interlocked.Increment(ref _nextWindow);
        var random = new Random(seed);
        var arrivals = new PoissonArrivals(rate, new Random(seed + 1));
        var records = new List<RequestRecord>();
        var inFlight = 0;
        var maxInFlight = 0;
        var errors = 0;
        var started = ElapsedSeconds;
        var item = progress.Start(title, duration.TotalSeconds);
        var pending = new List<Task>();
        foreach (var at in arrivals.Until(duration.TotalSeconds))
        {
            var wait = TimeSpan.FromSeconds(started + at - ElapsedSeconds);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellationToken);
            }

            var concurrency = Interlocked.Increment(ref inFlight);
            maxInFlight = Math.Max(maxInFlight, concurrency);
            var request = next(random);
            pending.Add(Task.Run(
                async () =>
                {
                    var record = await SendAsync(phase, new Planned(arm, target, request), concurrency, window, cancellationToken);
                    Interlocked.Decrement(ref inFlight);
                    lock (records)
                    {
                        records.Add(record);
                    }

                    if (!record.Result.Ok)
                    {
                        Interlocked.Increment(ref errors);
                    }
                },
                cancellationToken));
            item.Update(ElapsedSeconds - started, $"{title}: {pending.Count} sent, {Volatile.Read(ref errors)} failed");
        }

        await Task.WhenAll(pending);
        var result = Finish(new RunWindow(window, phase, arm, 0, rate, started, ElapsedSeconds), records, item, title, errors);
        return (result, maxInFlight);
    }

    private async Task<RequestRecord> SendAsync(string phase, Planned planned, int concurrency, int window, CancellationToken cancellationToken)
    {
        var startSeconds = ElapsedSeconds;
        var result = await client.RunAsync(planned.Target, planned.Request, cancellationToken);
        return new RequestRecord
        {
            Phase = phase,
            Arm = planned.Arm,
            Kind = planned.Request.Kind,
            Concurrency = concurrency,
            Window = window,
            TextCharacters = planned.Request.Text.Length,
            StartSeconds = startSeconds,
            Result = result,
        };
    }

    private RunWindow Finish(RunWindow window, List<RequestRecord> records, IProgressItem item, string title, int errors)
    {
        lock (_records)
        {
            _records.AddRange(records);
            _windows.Add(window);
        }

        item.Done($"{title}: {records.Count} requests, {errors} failed");
        return window;
    }

    private static async Task TickAsync(Action report, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                report();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
