namespace Mesh.Bench.Load;

/// <summary>The public surfaces a request can use.</summary>
public enum RequestKind
{
    /// <summary><c>POST /v1/audio/speech</c> with <c>stream_format: "sse"</c> (OpenAI's delta events, PCM inside).</summary>
    Sse,

    /// <summary><c>POST /v1/audio/speech/stream</c>: one SSE event per sentence.</summary>
    Sentences,

    /// <summary><c>POST /v1/audio/speech/stream/pcm</c>: raw PCM.</summary>
    Pcm,

    /// <summary><c>/ws</c>: JSON request, binary PCM frames, done event.</summary>
    WebSocket,

    /// <summary><c>POST /v1/audio/speech</c> for a WAV file, read to the end (not played while it arrives).</summary>
    Whole,
}

public static class RequestKinds
{
    public static IReadOnlyList<RequestKind> All { get; } = Enum.GetValues<RequestKind>();

    public static string Name(RequestKind kind) => kind switch
    {
        RequestKind.Sse => "sse",
        RequestKind.Sentences => "sentences",
        RequestKind.Pcm => "pcm",
        RequestKind.WebSocket => "ws",
        RequestKind.Whole => "whole",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static RequestKind? Parse(string name) => All.Cast<RequestKind?>().FirstOrDefault(k => Name(k!.Value) == name);

    /// <summary>Whether a client plays this surface's audio as it arrives (and so can underrun).</summary>
    public static bool IsPlayedAsStreamed(RequestKind kind) => kind != RequestKind.Whole;
}

/// <summary>A weighted mix of surfaces, e.g. <c>sse:1,sentences:1,pcm:1,ws:1,whole:1</c>.</summary>
public sealed class TrafficMix
{
    private readonly (RequestKind Kind, double Upper)[] _cumulative;

    public TrafficMix(IReadOnlyDictionary<RequestKind, double> weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var positive = weights.Where(w => w.Value > 0).OrderBy(w => w.Key).ToArray();
        if (positive.Length == 0)
        {
            throw new ArgumentException("A mix needs at least one surface with a positive weight.", nameof(weights));
        }

        var total = positive.Sum(w => w.Value);
        var sum = 0.0;
        _cumulative = [.. positive.Select(w => (w.Key, sum += w.Value / total))];
        Weights = positive.ToDictionary(w => w.Key, w => w.Value / total);
    }

    public static TrafficMix Default { get; } = new(RequestKinds.All.ToDictionary(k => k, _ => 1.0));

    public IReadOnlyDictionary<RequestKind, double> Weights { get; }

    public IEnumerable<RequestKind> Kinds => Weights.Keys;

    public RequestKind Pick(Random random)
    {
        var point = random.NextDouble();
        foreach (var (kind, upper) in _cumulative)
        {
            if (point < upper)
            {
                return kind;
            }
        }

        return _cumulative[^1].Kind;
    }

    /// <summary>Parses <c>kind:weight,...</c>; a kind without a weight weighs 1. Null with <paramref name="error"/> when invalid.</summary>
    public static TrafficMix? Parse(string text, out string? error)
    {
        error = null;
        var weights = new Dictionary<RequestKind, double>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var pieces = part.Split(':');
            var kind = RequestKinds.Parse(pieces[0]);
            var weight = 1.0;
            if (kind is null || pieces.Length > 2 ||
                (pieces.Length == 2 && !double.TryParse(pieces[1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out weight)) ||
                weight < 0 || !double.IsFinite(weight))
            {
                error = $"--mix: '{part}' is not KIND[:WEIGHT] with KIND one of {string.Join(", ", RequestKinds.All.Select(RequestKinds.Name))}";
                return null;
            }

            weights[kind.Value] = weight;
        }

        if (weights.Values.All(w => w <= 0))
        {
            error = "--mix needs at least one surface with a positive weight";
            return null;
        }

        return new TrafficMix(weights);
    }

    public override string ToString() => string.Join(',', Weights.Select(w => $"{RequestKinds.Name(w.Key)}:{w.Value:0.##}"));
}
