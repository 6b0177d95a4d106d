using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Mesh.Backend.Pipeline.Audio;

namespace Mesh.Bench;

/// <summary>
/// Times <see cref="StreamingResampler"/> on one thread over a minute of speech-like audio fed in streaming-sized
/// chunks, and the sox command line on the same audio as a reference.
/// Options: <c>--seconds N</c> (60), <c>--repeats N</c> (5), <c>--json PATH</c>.
/// </summary>
internal static class ResamplerBenchmark
{
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static int Run(string[] args)
    {
        if (BenchArguments.Parse("resampler", args, ("--seconds", "N"), ("--repeats", "N"), ("--json", "PATH")) is not { } options
            || options.PositiveNumber("--seconds", 60.0) is not { } seconds
            || options.PositiveInteger("--repeats", 5) is not { } repeats)
        {
            return 2;
        }

        var jsonPath = options.Text("--json");

        var results = new List<Result>();
        var workDirectory = Directory.CreateTempSubdirectory("mesh-bench-");
        try
        {
            foreach (var (from, to) in new[] { (24000, 8000), (22050, 48000) })
            {
                var audio = SpeechLikeSignal.Generate(from, seconds);
                // 20 ms frames are what a streaming vocoder hands over; 1 s is a short sentence.
                foreach (var chunkMs in new[] { 20, 1000 })
                {
                    results.Add(TimeOurs(audio, from, to, from * chunkMs / 1000, repeats, seconds));
                }

                var input = Path.Combine(workDirectory.FullName, $"in-{from}.wav");
                WriteWav(input, audio, from);
                var output = Path.Combine(workDirectory.FullName, "out.wav");
                results.Add(TimeSox("sox default (rate -h)", [input, "-r", Invariant(to), output], from, to, repeats, seconds));
                results.Add(TimeSox("sox rate -v", [input, output, "rate", "-v", Invariant(to)], from, to, repeats, seconds));
            }
        }
        finally
        {
            workDirectory.Delete(recursive: true);
        }

        Console.WriteLine($"resampler: {seconds:F0} s of audio, median of {repeats}, one thread");
        Console.WriteLine($"{"engine",-24} {"conversion",-14} {"chunk",8} {"median ms",10} {"x realtime",11}");
        foreach (var r in results)
        {
            var chunk = r.ChunkSamples > 0 ? Invariant(r.ChunkSamples) : "file";
            var median = r.MedianMs is { } ms ? ms.ToString("F1", CultureInfo.InvariantCulture) : "n/a";
            var realtime = r.RealtimeFactor is { } x ? x.ToString("F0", CultureInfo.InvariantCulture) : r.Note ?? "n/a";
            Console.WriteLine($"{r.Engine,-24} {$"{r.InputRate}->{r.OutputRate}",-14} {chunk,8} {median,10} {realtime,11}");
        }

        if (jsonPath is not null)
        {
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(new { benchmark = "resampler", seconds, repeats, results }, JsonOptions));
        }

        return 0;
    }

    private static Result TimeOurs(float[] audio, int from, int to, int chunkSamples, int repeats, double seconds)
    {
        var times = new List<double>();
        // The first run warms up the JIT and loads libsoxr; it is not counted.
        for (var run = 0; run <= repeats; run++)
        {
            var stopwatch = Stopwatch.StartNew();
            using (var resampler = new StreamingResampler(from, to))
            {
                for (var offset = 0; offset < audio.Length; offset += chunkSamples)
                {
                    resampler.Process(audio.AsSpan(offset, Math.Min(chunkSamples, audio.Length - offset)));
                }

                resampler.Flush();
            }

            if (run > 0)
            {
                times.Add(stopwatch.Elapsed.TotalMilliseconds);
            }
        }

        var median = Median(times);
        return new Result("StreamingResampler VHQ", from, to, chunkSamples, median, seconds * 1000 / median, null);
    }

    private static Result TimeSox(string engine, string[] arguments, int from, int to, int repeats, double seconds)
    {
        var times = new List<double>();
        for (var run = 0; run <= repeats; run++)
        {
            var start = new ProcessStartInfo("sox") { RedirectStandardError = true };
            foreach (var argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }

            var stopwatch = Stopwatch.StartNew();
            Process? process;
            try
            {
                process = Process.Start(start);
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return new Result(engine, from, to, 0, null, null, "no sox");
            }

            using (process)
            {
                var errors = process!.StandardError.ReadToEnd();
                process.WaitForExit();
                if (process.ExitCode != 0)
                {
                    return new Result(engine, from, to, 0, null, null, $"sox failed: {errors.Trim()}");
                }
            }

            if (run > 0)
            {
                times.Add(stopwatch.Elapsed.TotalMilliseconds);
            }
        }

        var median = Median(times);
        return new Result(engine, from, to, 0, median, seconds * 1000 / median, null);
    }

    private static void WriteWav(string path, float[] audio, int sampleRate)
    {
        using var file = File.Create(path);
        file.Write(WavEncoder.Header(sampleRate, (uint)(audio.Length * 2)));
        file.Write(PcmEncoder.ToBytes(audio));
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        var middle = values.Count / 2;
        return values.Count % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    private sealed record Result(
        string Engine, int InputRate, int OutputRate, int ChunkSamples, double? MedianMs, double? RealtimeFactor, string? Note);
}
