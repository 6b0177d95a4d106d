using Mesh.Bench.Load;

namespace Mesh.Tests.Bench;

public sealed class PlaybackTests
{
    [Fact]
    public void A_chunk_that_arrives_after_the_received_audio_has_played_is_an_underrun()
    {
        var clock = new PlaybackClock();

        Assert.False(clock.Add(0.0, 1.0)); // playback starts, audio until 1.0
        Assert.False(clock.Add(0.5, 1.0)); // in time: audio until 2.0
        Assert.True(clock.Add(2.6, 1.0)); // 0.6 s of silence first, then audio until 3.6
        Assert.False(clock.Add(3.0, 0.5)); // in time: audio until 4.1
        Assert.False(clock.Add(4.1, 0.5)); // exactly when the buffer runs dry is still in time

        Assert.Equal(1, clock.Underruns);
        Assert.Equal(0.6, clock.StallSeconds, 9);
        Assert.Equal(0.1, clock.BufferedSeconds(4.5), 9);
    }

    [Fact]
    public void A_stream_delivered_faster_than_real_time_never_underruns_however_bursty()
    {
        var clock = new PlaybackClock();
        var t = 0.0;
        for (var i = 0; i < 100; i++)
        {
            // Two seconds of audio every 1.9 seconds, with the gaps alternating short and long.
            clock.Add(t, 2.0);
            t += i % 2 == 0 ? 0.1 : 3.7;
        }

        Assert.Equal(0, clock.Underruns);
    }

    [Fact]
    public void The_timeline_records_ttfa_every_gap_and_underruns_and_merges_back_to_back_reads()
    {
        var timeline = new ChunkTimeline(0, simulatePlayback: true);

        timeline.AddAt(10.0, 1.0);
        timeline.AddAt(10.5, 0.5); // the rest of the same write, read right after: one chunk
        timeline.AddAt(1600.0, 0.5); // audio ran out at 1510 ms: an underrun of 90 ms
        timeline.AddAt(1700.0, 0.25);
        var result = timeline.Complete(0);

        Assert.Equal(10.0, result.TtfaMs);
        Assert.Equal(3, result.Chunks);
        Assert.Equal([1589.5, 100.0], result.GapsMs);
        Assert.Equal(1, result.Underruns);
        Assert.Equal(90.0, result.StallMs, 6);
        Assert.Equal(2.25, result.AudioSeconds, 9);
        Assert.True(result.Ok);
    }

    [Fact]
    public void A_paced_listener_reads_no_further_ahead_than_its_buffer()
    {
        var timeline = new ChunkTimeline(0, simulatePlayback: true, paced: true);
        timeline.AddAt(0, 5.0);

        // One second into playback 4 s are buffered: with a 2 s buffer the player waits 2 s before reading on.
        Assert.Equal(2.0, timeline.ListenerWait(System.Diagnostics.Stopwatch.Frequency, 2.0).TotalSeconds, 6);
        Assert.Equal(TimeSpan.Zero, timeline.ListenerWait(4 * System.Diagnostics.Stopwatch.Frequency, 2.0));
        Assert.True(timeline.Complete(0).Paced);
        Assert.Null(timeline.Complete(0).Rtf);
    }

    [Fact]
    public void A_whole_file_is_not_played_while_it_arrives_so_it_has_no_underruns()
    {
        var timeline = new ChunkTimeline(0, simulatePlayback: false);
        timeline.AddAt(5, 0.1);
        timeline.AddAt(5000, 0.1);

        Assert.Null(timeline.Complete(0).Underruns);
    }

    [Fact]
    public void A_response_without_audio_is_a_failure()
    {
        Assert.False(new ChunkTimeline(0, simulatePlayback: true).Complete(0).Ok);
    }
}
