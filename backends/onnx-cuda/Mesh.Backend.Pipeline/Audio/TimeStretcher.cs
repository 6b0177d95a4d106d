using System.Numerics;
using System.Runtime.InteropServices;

namespace Mesh.Backend.Pipeline.Audio;

/// <summary>
/// Streaming, pitch-preserving time stretch of mono float audio by WSOLA (waveform-similarity overlap-add):
/// Hann-windowed frames of 30 ms are laid down every 15 ms of output, each cut from the input near
/// <c>output time × speed</c>, shifted by up to ±10 ms to where it best continues the previous frame's waveform,
/// so periods line up in the crossfade instead of beating or clicking. Speed 2 halves the duration at the same
/// pitch. The output has round(input length / speed) samples once <see cref="Flush"/> has run, and it does not
/// depend on how the input was chunked. Speed 1 is the identity. One instance serves one stream at a time.
/// </summary>
public sealed class TimeStretcher : IAudioTransform
{
    public const double MinimumSpeed = 0.25;
    public const double MaximumSpeed = 4.0;

    // 30 ms frames hold two periods of a 70 Hz voice; ±10 ms of search covers half a period down to 50 Hz.
    private const double FrameSeconds = 0.030;
    private const double ToleranceSeconds = 0.010;

    private readonly int _frameLength;
    private readonly int _hop;
    private readonly int _tolerance;
    private readonly double _analysisHop;
    private readonly float[] _window = [];
    private readonly float[] _overlap = [];

    // The input in "padded" coordinates: half a frame of silence precedes the first sample, so the first output
    // sample sits at the centre of frame 0, where the overlapping windows already sum to one.
    private float[] _input = [];
    private long _inputStart;
    private int _inputCount;
    private long _received;
    private long _frameIndex;
    private long _previousPosition;
    private long _emitted;
    private float[] _output = [];
    private int _outputCount;
    private bool _flushed;

    public TimeStretcher(int sampleRate, double speed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sampleRate);
        if (!(speed >= MinimumSpeed && speed <= MaximumSpeed))
        {
            throw new ArgumentOutOfRangeException(nameof(speed), speed, $"Speed must be within {MinimumSpeed}–{MaximumSpeed}.");
        }

        SampleRate = sampleRate;
        Speed = speed;
        if (IsIdentity)
        {
            return;
        }

        _hop = Math.Max(8, (int)Math.Round(FrameSeconds * sampleRate / 2));
        _frameLength = 2 * _hop;
        _tolerance = Math.Max(1, (int)Math.Round(ToleranceSeconds * sampleRate));
        _analysisHop = _hop * speed;
        _window = new float[_frameLength];
        for (var i = 0; i < _frameLength; i++)
        {
            // Periodic Hann: copies half a frame apart sum to exactly one.
            _window[i] = (float)(0.5 - (0.5 * Math.Cos(2 * Math.PI * i / _frameLength)));
        }

        _overlap = new float[_frameLength];
        _input = new float[4 * _frameLength];
        _inputCount = _hop;
    }

    public int SampleRate { get; }

    public double Speed { get; }

    private bool IsIdentity => Speed == 1.0;

    /// <summary>Takes the next chunk of the stream and returns the output that is final (possibly none).</summary>
    public float[] Process(ReadOnlySpan<float> input)
    {
        ThrowIfFlushed();
        if (IsIdentity)
        {
            return input.ToArray();
        }

        Append(input);
        _received += input.Length;
        while (RequiredInputEnd() <= InputEnd)
        {
            RunFrame(long.MaxValue);
        }

        return TakeOutput();
    }

    /// <summary>Ends the stream: the input is taken to continue with silence until the output is complete.</summary>
    public float[] Flush()
    {
        ThrowIfFlushed();
        _flushed = true;
        if (IsIdentity)
        {
            return [];
        }

        var target = OutputLength(_received);
        while (_emitted < target)
        {
            var missing = RequiredInputEnd() - InputEnd;
            if (missing > 0)
            {
                Append(new float[missing]);
            }

            RunFrame(target);
        }

        return TakeOutput();
    }

    public long OutputLength(long inputSamples) => IsIdentity ? inputSamples : (long)Math.Round(inputSamples / Speed);

    private long InputEnd => _inputStart + _inputCount;

    private long NominalPosition(long frame) => (long)Math.Round(frame * _analysisHop);

    // Every candidate frame and the previous frame's natural continuation must be present before a frame is cut.
    private long RequiredInputEnd()
    {
        var candidatesEnd = NominalPosition(_frameIndex) + _tolerance + _frameLength;
        return _frameIndex == 0 ? candidatesEnd : Math.Max(candidatesEnd, _previousPosition + _hop + _hop);
    }

    private void RunFrame(long outputLimit)
    {
        var position = _frameIndex == 0 ? 0 : BestPosition();
        var frame = _input.AsSpan((int)(position - _inputStart), _frameLength);
        for (var i = 0; i < _frameLength; i++)
        {
            _overlap[i] += frame[i] * _window[i];
        }

        // Output before the next frame's start is final. Frame 0's first half lies in the silent lead-in.
        if (_frameIndex > 0)
        {
            var count = (int)Math.Min(_hop, outputLimit - _emitted);
            EnsureOutput(count);
            _overlap.AsSpan(0, count).CopyTo(_output.AsSpan(_outputCount));
            _outputCount += count;
            _emitted += count;
        }

        _overlap.AsSpan(_hop).CopyTo(_overlap);
        _overlap.AsSpan(_hop).Clear();
        _previousPosition = position;
        _frameIndex++;
        Discard(Math.Min(NominalPosition(_frameIndex) - _tolerance, _previousPosition + _hop));
    }

    // The shift within ±tolerance whose opening half frame best matches (normalised cross-correlation) what
    // would have followed the previous frame in the input, so the crossfade joins the waveform in phase.
    private long BestPosition()
    {
        var nominal = NominalPosition(_frameIndex);
        var template = _input.AsSpan((int)(_previousPosition + _hop - _inputStart), _hop);
        var first = Math.Max(0, nominal - _tolerance);
        var last = nominal + _tolerance;
        var best = nominal;
        var bestScore = Score(template, best);
        for (var candidate = first; candidate <= last; candidate++)
        {
            var score = Score(template, candidate);
            if (score > bestScore)
            {
                bestScore = score;
                best = candidate;
            }
        }

        return best;
    }

    private float Score(ReadOnlySpan<float> template, long candidate)
    {
        var segment = _input.AsSpan((int)(candidate - _inputStart), template.Length);
        return Dot(template, segment) / MathF.Sqrt(Dot(segment, segment) + 1e-12f);
    }

    private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var sum = Vector<float>.Zero;
        var va = MemoryMarshal.Cast<float, Vector<float>>(a);
        var vb = MemoryMarshal.Cast<float, Vector<float>>(b);
        for (var v = 0; v < va.Length; v++)
        {
            sum += va[v] * vb[v];
        }

        var total = Vector.Sum(sum);
        for (var i = va.Length * Vector<float>.Count; i < a.Length; i++)
        {
            total += a[i] * b[i];
        }

        return total;
    }

    private void Append(ReadOnlySpan<float> samples)
    {
        if (_inputCount + samples.Length > _input.Length)
        {
            Array.Resize(ref _input, Math.Max(_input.Length * 2, _inputCount + samples.Length));
        }

        samples.CopyTo(_input.AsSpan(_inputCount));
        _inputCount += samples.Length;
    }

    // Drops input that no later frame can reach, keeping the buffer about one frame long.
    private void Discard(long keepFrom)
    {
        var drop = (int)Math.Clamp(keepFrom - _inputStart, 0, _inputCount);
        if (drop == 0)
        {
            return;
        }

        _input.AsSpan(drop, _inputCount - drop).CopyTo(_input);
        _inputCount -= drop;
        _inputStart += drop;
    }

    private void EnsureOutput(int additional)
    {
        if (_outputCount + additional > _output.Length)
        {
            Array.Resize(ref _output, Math.Max(_output.Length * 2, _outputCount + additional));
        }
    }

    private float[] TakeOutput()
    {
        var result = _output.AsSpan(0, _outputCount).ToArray();
        _outputCount = 0;
        return result;
    }

    private void ThrowIfFlushed()
    {
        if (_flushed)
        {
            throw new InvalidOperationException("The stream was already flushed.");
        }
    }
}
