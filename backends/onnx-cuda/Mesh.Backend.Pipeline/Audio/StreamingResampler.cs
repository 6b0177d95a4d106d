using System.Runtime.InteropServices;

namespace Mesh.Backend.Pipeline.Audio;

/// <summary>
/// Streaming sample-rate conversion of mono float audio with libsoxr at very high quality (linear phase, 28-bit
/// precision, so aliasing stays under float32's own noise floor). Chunks go in as synthesis produces them and come
/// out as soon as the filter allows, and the concatenated output does not depend on how the input was chunked;
/// <see cref="Flush"/> drains the filter tail at the end of the stream. soxr compensates its own filter delay, so
/// after the flush the output is input length × <see cref="OutputRate"/> / <see cref="InputRate"/> samples
/// (rounded), aligned with the input. Equal rates are the identity and hold no native state. One instance serves
/// one stream on one thread at a time.
/// </summary>
public sealed unsafe class StreamingResampler : IAudioTransform, IDisposable
{
    // Room for samples soxr holds back from earlier calls on top of this call's share.
    private const int OutputSlack = 256;

    private readonly SoxrHandle? _soxr;
    private readonly double _ratio;
    private float[] _scratch = [];
    private bool _flushed;
    private bool _disposed;

    public StreamingResampler(int inputRate, int outputRate)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputRate);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputRate);
        InputRate = inputRate;
        OutputRate = outputRate;
        _ratio = (double)outputRate / inputRate;
        if (inputRate == outputRate)
        {
            return;
        }

        var ioSpec = SoxrNative.IoSpecFor(SoxrNative.Float32Interleaved, SoxrNative.Float32Interleaved);
        var qualitySpec = SoxrNative.QualitySpecFor(new CULong(SoxrNative.VeryHighQuality), new CULong(0));
        byte* error = null;
        var soxr = SoxrNative.Create(inputRate, outputRate, 1, &error, &ioSpec, &qualitySpec, 0);
        if (error != null || soxr.IsInvalid)
        {
            var message = error != null ? SoxrNative.ErrorText(error) : "soxr_create returned NULL";
            soxr.Dispose();
            throw new InvalidOperationException($"Cannot resample {inputRate} Hz to {outputRate} Hz: {message}");
        }

        _soxr = soxr;
    }

    public int InputRate { get; }

    public int OutputRate { get; }

    /// <summary>Takes the next chunk of the stream and returns the output that is ready (possibly none).</summary>
    public float[] Process(ReadOnlySpan<float> input)
    {
        ThrowIfUnusable();
        if (_soxr is null)
        {
            return input.ToArray();
        }

        if (input.IsEmpty)
        {
            // An empty span pins to NULL, which soxr reads as end of input.
            return [];
        }

        var produced = 0;
        var consumed = 0;
        EnsureScratch((int)Math.Ceiling(input.Length * _ratio) + OutputSlack);
        fixed (float* source = input)
        {
            while (true)
            {
                var room = _scratch.Length - produced;
                nuint inputDone, outputDone;
                fixed (float* target = _scratch)
                {
                    Check(SoxrNative.Process(
                        _soxr, source + consumed, (nuint)(input.Length - consumed), &inputDone, target + produced, (nuint)room, &outputDone));
                }

                consumed += (int)inputDone;
                produced += (int)outputDone;
                if (consumed == input.Length && (int)outputDone < room)
                {
                    break;
                }

                // soxr stopped because the output was full: grow it and let it continue.
                EnsureScratch(_scratch.Length * 2);
            }
        }

        return _scratch.AsSpan(0, produced).ToArray();
    }

    /// <summary>Ends the stream: returns the rest of the output, which the filter held back. Process may not follow.</summary>
    public float[] Flush()
    {
        ThrowIfUnusable();
        _flushed = true;
        if (_soxr is null)
        {
            return [];
        }

        var produced = 0;
        EnsureScratch(OutputSlack * 4);
        while (true)
        {
            var room = _scratch.Length - produced;
            nuint outputDone;
            fixed (float* target = _scratch)
            {
                Check(SoxrNative.Process(_soxr, null, 0, null, target + produced, (nuint)room, &outputDone));
            }

            produced += (int)outputDone;
            if (outputDone == 0)
            {
                break;
            }

            if ((int)outputDone == room)
            {
                EnsureScratch(_scratch.Length * 2);
            }
        }

        return _scratch.AsSpan(0, produced).ToArray();
    }

    // soxr's own count (rate_flush): input / (input rate / output rate) + 0.5, truncated, in doubles. Rounding
    // inputSamples × ratio instead differs by one where the exact value ends in .5.
    public long OutputLength(long inputSamples) => (long)((inputSamples / ((double)InputRate / OutputRate)) + 0.5);

    public void Dispose()
    {
        _disposed = true;
        _soxr?.Dispose();
    }

    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_flushed)
        {
            throw new InvalidOperationException("The stream was already flushed.");
        }
    }

    private void EnsureScratch(int length)
    {
        if (_scratch.Length < length)
        {
            Array.Resize(ref _scratch, length);
        }
    }

    private static void Check(byte* error)
    {
        if (error != null)
        {
            throw new InvalidOperationException($"soxr_process failed: {SoxrNative.ErrorText(error)}");
        }
    }
}
