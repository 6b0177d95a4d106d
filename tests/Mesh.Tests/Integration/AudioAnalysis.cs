using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Mesh.Tests.Integration;

/// <summary>Decoded 16-bit mono audio and the measures that tell speech from silence, noise or a tone.</summary>
public sealed record DecodedAudio(float[] Samples, int SampleRate)
{
    public double DurationSeconds => (double)Samples.Length / SampleRate;

    public double Rms => Math.Sqrt(Samples.Average(s => (double)s * s));

    /// <summary>Share of 20 ms frames louder than -40 dBFS: speech has pauses between words, a tone or noise has none.</summary>
    public double ActiveFrameRatio
    {
        get
        {
            var frame = SampleRate / 50;
            var frames = Samples.Chunk(frame).Where(f => f.Length == frame).ToArray();
            return frames.Count(f => Math.Sqrt(f.Average(s => (double)s * s)) > 0.01) / (double)frames.Length;
        }
    }

    /// <summary>Spread of frame loudness in dB among active frames: syllables rise and fall; a steady signal does not.</summary>
    public double LoudnessSpreadDb
    {
        get
        {
            var frame = SampleRate / 50;
            var levels = Samples.Chunk(frame)
                .Select(f => Math.Sqrt(f.Average(s => (double)s * s)))
                .Where(rms => rms > 0.01)
                .Select(rms => 20 * Math.Log10(rms))
                .ToArray();
            var mean = levels.Average();
            return Math.Sqrt(levels.Average(l => (l - mean) * (l - mean)));
        }
    }

    /// <summary>Seconds of silence (every sample under -40 dBFS) after the last sound.</summary>
    public double TrailingSilenceSeconds => SilentRuns().LastOrDefault(run => run.End == Samples.Length).Length / (double)SampleRate;

    /// <summary>The longest silence (every sample under -40 dBFS) between two sounds, in seconds: the pauses of speech.</summary>
    public double LongestPauseSeconds =>
        SilentRuns().Where(run => run.Start > 0 && run.End < Samples.Length).Select(run => run.Length).DefaultIfEmpty(0).Max() / (double)SampleRate;

    public static DecodedAudio FromPcm16(ReadOnlySpan<byte> pcm, int sampleRate)
    {
        var samples = new float[pcm.Length / 2];
        for (var i = 0; i < samples.Length; i++)
        {
            samples[i] = BinaryPrimitives.ReadInt16LittleEndian(pcm[(i * 2)..]) / 32768f;
        }

        return new DecodedAudio(samples, sampleRate);
    }

    /// <summary>Parses a 16-bit PCM WAV, including streamed ones whose sizes are unknown (0xFFFFFFFF).</summary>
    public static DecodedAudio FromWav(byte[] wav)
    {
        Assert.Equal("RIFF", Encoding.ASCII.GetString(wav, 0, 4));
        Assert.Equal("WAVE", Encoding.ASCII.GetString(wav, 8, 4));
        var offset = 12;
        var sampleRate = 0;
        while (offset + 8 <= wav.Length)
        {
            var id = Encoding.ASCII.GetString(wav, offset, 4);
            var size = BinaryPrimitives.ReadUInt32LittleEndian(wav.AsSpan(offset + 4));
            if (id == "fmt ")
            {
                Assert.Equal(1, BinaryPrimitives.ReadInt16LittleEndian(wav.AsSpan(offset + 8)));
                Assert.Equal(1, BinaryPrimitives.ReadInt16LittleEndian(wav.AsSpan(offset + 10)));
                sampleRate = BinaryPrimitives.ReadInt32LittleEndian(wav.AsSpan(offset + 12));
                Assert.Equal(16, BinaryPrimitives.ReadInt16LittleEndian(wav.AsSpan(offset + 22)));
            }
            else if (id == "data")
            {
                var length = (int)Math.Min(size, (uint)(wav.Length - offset - 8));
                return FromPcm16(wav.AsSpan(offset + 8, length & ~1), sampleRate);
            }

            offset += 8 + (int)size;
        }

        throw new InvalidDataException("WAV has no data chunk");
    }

    /// <summary>Duration as Debian's ffprobe decodes it: an independent check of the container.</summary>
    public static Task<double> FfprobeDurationAsync(byte[] file, string extension) =>
        WithTempFileAsync(file, extension, async path =>
        {
            var (output, _) = await RunToolAsync("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path]);
            return double.Parse(Encoding.ASCII.GetString(output).Trim(), CultureInfo.InvariantCulture);
        });

    /// <summary>
    /// Every sample Debian's ffmpeg decodes from <paramref name="file"/>, at the rate its decoder reports: an
    /// independent decoder, counted sample by sample rather than trusted from container metadata. Any decoder complaint
    /// fails. <paramref name="decoder"/> picks one of ffmpeg's decoders over its default.
    /// </summary>
    public static Task<DecodedAudio> FfmpegDecodeAsync(byte[] file, string extension, string? decoder = null) =>
        WithTempFileAsync(file, extension, async path =>
        {
            string[] codec = decoder is null ? [] : ["-c:a", decoder];
            // A WAV out carries the decoded rate in its header, so one process gives both rate and samples.
            var (wav, complaints) = await RunToolAsync(
                "ffmpeg", ["-v", "error", "-nostdin", .. codec, "-i", path, "-ac", "1", "-c:a", "pcm_s16le", "-f", "wav", "-bitexact", "-"]);
            Assert.True(complaints.Length == 0, "ffmpeg complained while decoding: " + complaints);
            return FromWav(wav);
        });

    private static async Task<T> WithTempFileAsync<T>(byte[] file, string extension, Func<string, Task<T>> use)
    {
        var path = Path.Combine(Path.GetTempPath(), $"mesh-{Guid.NewGuid():N}.{extension}");
        await File.WriteAllBytesAsync(path, file);
        try
        {
            return await use(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Runs an ffmpeg tool to its end; a non-zero exit fails the test. Returns stdout and stderr.</summary>
    private static async Task<(byte[] Output, string Errors)> RunToolAsync(string tool, string[] arguments)
    {
        var info = new ProcessStartInfo(tool, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(info)!;
        using var output = new MemoryStream();
        var errors = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.BaseStream.CopyToAsync(output);
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{tool} failed: " + await errors);
        return (output.ToArray(), (await errors).Trim());
    }

    /// <summary>The runs of samples under -40 dBFS, in order, as [Start, End).</summary>
    private IEnumerable<(int Start, int End, int Length)> SilentRuns()
    {
        const float Threshold = 0.01f;
        var start = -1;
        for (var i = 0; i <= Samples.Length; i++)
        {
            var silent = i < Samples.Length && Math.Abs(Samples[i]) < Threshold;
            if (silent && start < 0)
            {
                start = i;
            }
            else if (!silent && start >= 0)
            {
                yield return (start, i, i - start);
                start = -1;
            }
        }
    }
}
