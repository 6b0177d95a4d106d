using Mesh.Contracts;
using Mesh.Gateway;
using Mesh.Gateway.Admission;

namespace Mesh.Tests.Gateway;

public sealed class AdmissionControllerTests
{
    private static AdmissionController Controller(int total = 3, int reserved = 1, int batchQueue = 2, int realtimeQueue = 2, int timeoutMs = 5000) =>
        new(() => new AdmissionOptions
        {
            TotalConcurrency = total,
            RealtimeReserved = reserved,
            Realtime = new ClassLimits { MaxQueue = realtimeQueue, QueueTimeoutMs = timeoutMs },
            Batch = new ClassLimits { MaxQueue = batchQueue, QueueTimeoutMs = timeoutMs },
        });

    [Fact]
    public async Task Batch_never_takes_the_reserved_realtime_slot()
    {
        var admission = Controller();
        using var b1 = (await admission.AcquireAsync(PriorityClasses.Batch, default)).Lease;
        using var b2 = (await admission.AcquireAsync(PriorityClasses.Batch, default)).Lease;
        Assert.NotNull(b2);

        var third = admission.AcquireAsync(PriorityClasses.Batch, default);
        Assert.False(third.IsCompleted, "the third batch request must queue: the last slot is realtime's");
        var realtime = await admission.AcquireAsync(PriorityClasses.Realtime, default);
        Assert.NotNull(realtime.Lease);
        Assert.Equal(TimeSpan.Zero, realtime.QueueWait);
        realtime.Lease.Dispose();
        Assert.False(third.IsCompleted, "a freed reserved slot still does not go to batch");

        b1!.Dispose();
        using var granted = (await third).Lease;
        Assert.NotNull(granted);
    }

    [Fact]
    public async Task A_full_queue_sheds_at_once()
    {
        var admission = Controller(total: 2, reserved: 1, batchQueue: 1);
        using var running = (await admission.AcquireAsync(PriorityClasses.Batch, default)).Lease;
        var queued = admission.AcquireAsync(PriorityClasses.Batch, default);

        var shed = await admission.AcquireAsync(PriorityClasses.Batch, default);

        Assert.Null(shed.Lease);
        Assert.Equal(AdmissionController.QueueFull, shed.ShedReason);
        Assert.False(queued.IsCompleted);
    }

    [Fact]
    public async Task A_request_past_its_queue_deadline_is_shed()
    {
        var admission = Controller(total: 2, reserved: 1, timeoutMs: 100);
        using var running = (await admission.AcquireAsync(PriorityClasses.Batch, default)).Lease;

        var late = admission.AcquireAsync(PriorityClasses.Batch, default);
        Assert.Equal(1, QueueDepth(PriorityClasses.Batch));

        Assert.Equal(AdmissionController.QueueTimeout, (await late).ShedReason);
        Assert.True((await late).QueueWait >= TimeSpan.FromMilliseconds(90));
        Assert.Equal(0, QueueDepth(PriorityClasses.Batch));
    }

    [Fact]
    public async Task Waiting_realtime_sheds_queued_batch_and_goes_first()
    {
        var admission = Controller(total: 2, reserved: 0);
        var r1 = (await admission.AcquireAsync(PriorityClasses.Realtime, default)).Lease!;
        using var r2 = (await admission.AcquireAsync(PriorityClasses.Realtime, default)).Lease;
        var batch = admission.AcquireAsync(PriorityClasses.Batch, default);
        var realtime = admission.AcquireAsync(PriorityClasses.Realtime, default);

        Assert.Equal(AdmissionController.RealtimePressure, (await batch).ShedReason);
        Assert.Equal(AdmissionController.RealtimePressure, (await admission.AcquireAsync(PriorityClasses.Batch, default)).ShedReason);

        r1.Dispose();
        using var granted = (await realtime).Lease;
        Assert.NotNull(granted);
    }

    [Fact]
    public async Task A_client_that_leaves_the_queue_frees_its_place()
    {
        var admission = Controller(total: 2, reserved: 1, batchQueue: 1);
        using var running = (await admission.AcquireAsync(PriorityClasses.Batch, default)).Lease;
        using var leaving = new CancellationTokenSource();
        var queued = admission.AcquireAsync(PriorityClasses.Batch, leaving.Token);
        Assert.Equal(1, QueueDepth(PriorityClasses.Batch));

        await leaving.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
        Assert.Equal(0, QueueDepth(PriorityClasses.Batch));
    }

    [Fact]
    public async Task A_wait_that_fails_leaves_the_queue_so_a_later_release_cannot_leak_the_slot()
    {
        // A negative deadline makes the wait itself throw, as any unexpected failure of it would.
        var admission = Controller(total: 2, reserved: 1, timeoutMs: -2);
        var running = (await admission.AcquireAsync(PriorityClasses.Batch, default)).Lease!;

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => admission.AcquireAsync(PriorityClasses.Batch, default));
        Assert.Equal(0, QueueDepth(PriorityClasses.Batch));

        // Batch's one slot is free again: the failed waiter must not have been granted it.
        running.Dispose();
        using var next = (await admission.AcquireAsync(PriorityClasses.Batch, default)).Lease;
        Assert.NotNull(next);
    }

    // The controller publishes its queue lengths itself; these tests are the only ones in this process that admit.
    private static double QueueDepth(string priority) => GatewayMetrics.QueueDepth.WithLabels(priority).Value;
}
