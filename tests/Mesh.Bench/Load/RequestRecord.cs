namespace Mesh.Bench.Load;

/// <summary>One request of a run: where it went, as part of which comparison, and what it measured.</summary>
public sealed record RequestRecord
{
    /// <summary>The comparison or run it belongs to (<see cref="Phases"/>).</summary>
    public required string Phase { get; init; }

    /// <summary>The side of the comparison: a target (gateway, direct), a policy, a variant, a text length.</summary>
    public required string Arm { get; init; }

    public required RequestKind Kind { get; init; }

    /// <summary>Closed loop: the number of clients; open loop: requests in flight when this one started.</summary>
    public int Concurrency { get; init; }

    /// <summary>The closed-loop block or open-loop run this request belongs to (for throughput).</summary>
    public int Window { get; init; }

    public int TextCharacters { get; init; }

    /// <summary>Seconds from the start of the bench to sending this request.</summary>
    public double StartSeconds { get; init; }

    public required Measurement Result { get; init; }
}

/// <summary>A span of time in which one arm ran alone or interleaved with others, for throughput.</summary>
public sealed record RunWindow(int Id, string Phase, string Arm, int Concurrency, double OfferedRate, double StartSeconds, double EndSeconds)
{
    public double Seconds => EndSeconds - StartSeconds;
}

/// <summary>Names of the comparisons a bench runs.</summary>
public static class Phases
{
    public const string Overhead = "gateway-overhead";
    public const string NeuralOverhead = "gateway-overhead-neural";
    public const string Length = "ttfa-length";
    public const string NeuralLength = "ttfa-length-neural";
    public const string Sweep = "concurrency-sweep";
    public const string OpenLoop = "open-loop";
    public const string AbTest = "ab";
    public const string Warmup = "warmup";
}
