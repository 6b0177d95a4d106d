using System.Buffers;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Mesh.Contracts;

namespace Mesh.Backend.Pipeline.Audio;

/// <summary>
/// Mono AAC-LC in ADTS frames, encoded by an ffmpeg child process (Debian's <c>ffmpeg</c> package): Debian main has
/// no AAC encoder library to bind (libfdk-aac is non-free), and ffmpeg's native encoder is the one it ships.
/// </summary>
/// <remarks>
/// Samples go to ffmpeg's stdin as raw floats; a background reader gathers its stdout, so each call returns what
/// ffmpeg has produced so far, and <see cref="WhenOutputWaiting"/> tells when frames come in between calls. ADTS carries no priming information, so decoders play <see cref="PrimingSamples"/>
/// of silence before the audio.
/// </remarks>
public sealed class AacEncoder : IAudioEncoder
{
    /// <summary>Samples per AAC frame. The last frame is padded with silence.</summary>
    public const int FrameSamples = 1024;

    /// <summary>Samples of silence ffmpeg's AAC encoder puts before the audio: one frame.</summary>
    public const int PrimingSamples = FrameSamples;

    /// <summary>The sampling frequencies ADTS can signal.</summary>
    public static readonly IReadOnlyList<int> SampleRates = [7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000];

    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(30);

    private readonly int _sampleRate;
    private readonly PendingBytes _output = new();
    private Process? _ffmpeg;
    private Stream? _stdin;
    private Task? _stdoutPump;
    private Task<string>? _stderr;
    private bool _finished;
    private bool _disposed;

    public AacEncoder(int sampleRate)
    {
        if (!SampleRates.Contains(sampleRate))
        {
            throw new ArgumentOutOfRangeException(nameof(sampleRate), sampleRate, "ADTS cannot signal this sample rate.");
        }

        _sampleRate = sampleRate;
    }

    public string ContentType => AudioFormats.ContentType(AudioFormats.Aac);

    /// <summary>Bitrate for mono speech: 64 kbit/s, or the most the encoder allows per channel at low rates (6 bits a sample).</summary>
    public static int Bitrate(int sampleRate) => Math.Min(64000, sampleRate * 6);

    /// <summary>The ffmpeg process's id, once begun.</summary>
    internal int? ProcessId { get; private set; }

    public ReadOnlyMemory<byte> Begin()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_ffmpeg is not null)
        {
            throw new InvalidOperationException("The AAC stream has begun already.");
        }

        var info = new ProcessStartInfo("ffmpeg")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        string[] arguments =
        [
            "-hide_banner", "-nostats", "-loglevel", "error",
            // Raw input needs no probing; without these ffmpeg reads seconds of input before it encodes anything.
            "-probesize", "32", "-analyzeduration", "0",
            "-f", BitConverter.IsLittleEndian ? "f32le" : "f32be",
            "-ar", Invariant(_sampleRate), "-ac", "1", "-i", "pipe:0",
            "-c:a", "aac", "-b:a", Invariant(Bitrate(_sampleRate)),
            // Each packet goes out as it is made instead of waiting for ffmpeg's 32 KiB output buffer.
            "-flush_packets", "1",
            "-f", "adts", "pipe:1",
        ];
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        try
        {
            _ffmpeg = Process.Start(info) ?? throw new InvalidOperationException("ffmpeg did not start.");
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException("The aac format needs ffmpeg on the PATH (Debian package ffmpeg).", ex);
        }

        ProcessId = _ffmpeg.Id;
        _stdin = _ffmpeg.StandardInput.BaseStream;
        _stdoutPump = PumpAsync(_ffmpeg.StandardOutput.BaseStream, _output);
        _stderr = _ffmpeg.StandardError.ReadToEndAsync();
        return ReadOnlyMemory<byte>.Empty;
    }

    public async ValueTask<ReadOnlyMemory<byte>> EncodeAsync(ReadOnlyMemory<float> samples, CancellationToken cancellationToken)
    {
        var stdin = EnsureStreaming();
        if (!samples.IsEmpty)
        {
            // Seconds of audio are more than the pipe holds, so the write waits for ffmpeg; a span cannot wait across
            // an await, so the samples' bytes go through a pooled buffer.
            var byteCount = samples.Length * sizeof(float);
            var bytes = ArrayPool<byte>.Shared.Rent(byteCount);
            try
            {
                MemoryMarshal.AsBytes(samples.Span).CopyTo(bytes);
                await stdin.WriteAsync(bytes.AsMemory(0, byteCount), cancellationToken);
                await stdin.FlushAsync(cancellationToken);
            }
            catch (IOException ex)
            {
                throw await FailedAsync("ffmpeg stopped taking audio", ex, cancellationToken);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(bytes);
            }
        }

        return _output.Take();
    }

    public Task? WhenOutputWaiting() => _stdin is null || _finished || _disposed ? null : _output.WhenAppended();

    public async ValueTask<ReadOnlyMemory<byte>> FinishAsync(CancellationToken cancellationToken)
    {
        var stdin = EnsureStreaming();
        _finished = true;
        try
        {
            // End of input makes ffmpeg flush its last frames and exit.
            stdin.Close();
        }
        catch (IOException ex)
        {
            throw await FailedAsync("ffmpeg stopped taking audio", ex, cancellationToken);
        }

        // A cancelled wait leaves ffmpeg running; disposing the encoder kills it.
        using var exitWait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        exitWait.CancelAfter(ExitTimeout);
        try
        {
            await _ffmpeg!.WaitForExitAsync(exitWait.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw await FailedAsync($"ffmpeg did not finish within {ExitTimeout.TotalSeconds:0} s", null, cancellationToken);
        }

        await _stdoutPump!.WaitAsync(cancellationToken);
        if (_ffmpeg.ExitCode != 0)
        {
            throw await FailedAsync($"ffmpeg exited with code {_ffmpeg.ExitCode}", null, cancellationToken);
        }

        return _output.Take();
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_ffmpeg is null)
        {
            return;
        }

        try
        {
            if (!_ffmpeg.HasExited)
            {
                _ffmpeg.Kill();
            }
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill.
        }

        _ffmpeg.Dispose();
    }

    private Stream EnsureStreaming()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_stdin is null || _finished)
        {
            throw new InvalidOperationException(_finished ? "The AAC stream is finished." : "Begin the AAC stream first.");
        }

        return _stdin;
    }

    private async ValueTask<InvalidOperationException> FailedAsync(string what, Exception? inner, CancellationToken cancellationToken)
    {
        // ffmpeg's own message says why; it is complete once the process has exited.
        var detail = _ffmpeg is { HasExited: true } && _stderr is { } stderr ? (await stderr.WaitAsync(cancellationToken)).Trim() : "";
        return new InvalidOperationException(detail.Length == 0 ? $"{what}." : $"{what}: {detail}", inner);
    }

    private static async Task PumpAsync(Stream stdout, PendingBytes output)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await stdout.ReadAsync(buffer)) > 0)
            {
                output.Append(buffer.AsSpan(0, read));
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The process was killed on Dispose; nobody wants the rest.
        }
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}
