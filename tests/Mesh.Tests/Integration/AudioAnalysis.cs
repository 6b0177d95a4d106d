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
    public static async Task<double> FfprobeDurationAsync(byte[] file, string extension)
    {
        var path = Path.Combine(Path.GetTempPath(), $"mesh-{Guid.NewGuid():N}.{extension}");
        await File.WriteAllBytesAsync(path, file);
        try
        {
            var info = new ProcessStartInfo("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var process = Process.Start(info)!;
            var output = await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, "ffprobe failed: " + await process.StandardError.ReadToEndAsync());
            return double.Parse(output.Trim(), CultureInfo.InvariantCulture);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
