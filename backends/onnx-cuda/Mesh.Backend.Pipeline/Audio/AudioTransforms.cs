namespace Mesh.Backend.Pipeline.Audio;

/// <summary>Builds the post-processing chain of a job: time stretch (speed beyond the family's own), then resampling.</summary>
public static class AudioTransforms
{
    private const double SpeedTolerance = 1e-6;

    public static TransformChain Chain(int nativeRate, double residualSpeed, int outputRate)
    {
        var stages = new List<IAudioTransform>(2);
        if (Math.Abs(residualSpeed - 1.0) > SpeedTolerance)
        {
            stages.Add(new TimeStretcher(nativeRate, residualSpeed));
        }

        if (outputRate != nativeRate)
        {
            stages.Add(new StreamingResampler(nativeRate, outputRate));
        }

        return new TransformChain(stages);
    }
}

/// <summary>Transforms applied in order; empty is the identity.</summary>
public sealed class TransformChain(IReadOnlyList<IAudioTransform> stages) : IAudioTransform, IDisposable
{
    public float[] Process(ReadOnlySpan<float> input)
    {
        if (stages.Count == 0)
        {
            return input.ToArray();
        }

        var samples = stages[0].Process(input);
        for (var i = 1; i < stages.Count; i++)
        {
            samples = stages[i].Process(samples);
        }

        return samples;
    }

    public float[] Flush()
    {
        // Each stage's tail passes through the stages after it before they flush in turn.
        var carried = Array.Empty<float>();
        foreach (var stage in stages)
        {
            carried = [.. stage.Process(carried), .. stage.Flush()];
        }

        return carried;
    }

    public long OutputLength(long inputSamples) => stages.Aggregate(inputSamples, (length, stage) => stage.OutputLength(length));

    public void Dispose()
    {
        foreach (var stage in stages.OfType<IDisposable>())
        {
            stage.Dispose();
        }
    }
}
