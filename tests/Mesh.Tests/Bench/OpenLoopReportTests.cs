using Mesh.Bench.Load;

namespace Mesh.Tests.Bench;

public sealed class OpenLoopReportTests
{
    [Fact]
    public void The_achieved_rate_counts_the_arrival_window_and_throughput_the_run_until_its_last_answer()
    {
        // Ten requests sent 0.1 s apart from 0.5 s on (10 per second, as offered); the run began at 0.4 s and its last
        // answer ended at 3.5 s, after a slow tail.
        var target = new Target("main", new Uri("http://127.0.0.1:8080/"));
        var window = new RunWindow(1, Phases.OpenLoop, target.Name, 0, 10, StartSeconds: 0.4, EndSeconds: 3.5);
        RequestRecord[] records =
        [
            .. Enumerable.Range(0, 10).Select(i => new RequestRecord
            {
                Phase = Phases.OpenLoop,
                Arm = target.Name,
                Kind = RequestKind.Pcm,
                Window = window.Id,
                StartSeconds = 0.5 + (0.1 * i),
                Result = new Measurement { Status = 200, TtfaMs = 5, TotalMs = 100, AudioSeconds = 0.5, Chunks = 1, Underruns = 0 },
            }),
        ];
        var context = new RunContext(
            BenchProfile.Smoke, new BenchTargets { Main = target, Model = "espeak" }, 32, "load", DateTimeOffset.UnixEpoch, 4, null, null);

        var openLoop = new ResultsReport(records, [window], [new OpenLoopRun(window, 2)], context).Build()["open_loop"]![0]!;

        Assert.Equal(10, openLoop["offered_rate_per_s"]!.GetValue<double>());
        Assert.Equal(10, openLoop["achieved_rate_per_s"]!.GetValue<double>(), 3);
        // Seconds of audio delivered per second of wall time: 5 s of audio from 0.4 s to 3.5 s.
        Assert.Equal(5 / 3.1, openLoop["throughput_audio_s_per_s"]!.GetValue<double>(), 3);
    }
}
