using System.Buffers;
using Mesh.Contracts;
using Mesh.Contracts.Http;
using Mesh.Gateway.Auth;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace Mesh.Gateway.Routing;

/// <summary>
/// First step of the proxy pipeline: classifies the request (realtime for streams, SSE and WebSocket; batch for whole
/// files; <c>priority</c> or <c>X-Priority</c> may lower it, and raise it only if the key allows), assigns its A/B
/// variant (sticky per client, <c>X-Mesh-Variant</c> forces a known one), and moves it to the cluster of that
/// variant's pool for its class. The small JSON body is buffered so a failed attempt can be retried.
/// </summary>
public sealed class RequestRoutingMiddleware(
    RequestDelegate next, IProxyStateLookup proxyState, IOptionsMonitor<VariantOptions> variants, MislabelledBackends mislabelled)
{
    private volatile RoutingTable? _table;

    public async Task InvokeAsync(HttpContext context)
    {
        var body = await BufferBodyAsync(context);
        if (body.Error is { } bodyError)
        {
            await ApiResults.WriteErrorAsync(context, bodyError);
            return;
        }

        var identity = ClientIdentity.Of(context) ?? new ClientIdentity(context.Connection.RemoteIpAddress?.ToString() ?? "unknown", null, true, null);
        var surface = SurfaceOf(context.Request.Path);
        var isSse = surface == Surface.SentenceStream || (surface == Surface.Speech && body.Fields.StreamFormat == StreamFormats.Sse);
        var isWholeFile = surface == Surface.Speech && !isSse;
        var priority = Classify(context.Request, body.Fields, identity, isWholeFile, out var priorityError);
        if (priorityError is not null)
        {
            await ApiResults.WriteErrorAsync(context, priorityError);
            return;
        }

        var table = CurrentTable();
        var variant = ChooseVariant(context, table, identity, out var variantError);
        if (variantError is not null)
        {
            await ApiResults.WriteErrorAsync(context, variantError);
            return;
        }

        var cluster = variant is null ? null : table.PoolFor(variant, priority);
        var decision = new RouteDecision(priority, variant ?? "none", cluster is null ? "none" : Metadata(cluster, FleetProxyConfigProvider.PoolKey), isSse);
        decision.AttachTo(context);
        if (cluster is not null)
        {
            context.ReassignProxyRequest(cluster);
        }

        // The backend schedules by this header; the gateway is the one that knows what the key allows.
        context.Request.Headers[MeshHeaders.Priority] = priority;
        context.Response.OnStarting(() =>
        {
            // The backend's own label, passed on with its headers (over HTTP or a WebSocket's handshake), gives way to the
            // variant the client was assigned: that is what its answer is compared under.
            var headers = context.Response.Headers;
            if (headers[MeshHeaders.Variant].FirstOrDefault() is { } label && headers[MeshHeaders.Backend].FirstOrDefault() is { } backend)
            {
                mislabelled.Check(backend, label, decision.Variant);
            }

            headers[MeshHeaders.Variant] = decision.Variant;
            return Task.CompletedTask;
        });
        await next(context);
    }

    /// <summary>
    /// Decided once, from the path as the routes match it (any letter case, with or without a trailing slash): the
    /// default priority and the SSE marking both follow from it, so no spelling of a path can get one without the other.
    /// </summary>
    private static Surface SurfaceOf(PathString path)
    {
        var trimmed = RequestPaths.Trimmed(path);
        return RequestPaths.Is(trimmed, "/v1/audio/speech") ? Surface.Speech
            : RequestPaths.Is(trimmed, "/v1/audio/speech/stream") ? Surface.SentenceStream
            : Surface.Other;
    }

    private static string Classify(HttpRequest request, RoutingFields fields, ClientIdentity identity, bool isWholeFile, out ApiError? error)
    {
        var surfaceDefault = isWholeFile ? PriorityClasses.Batch : PriorityClasses.Realtime;
        var header = request.Headers[MeshHeaders.Priority].FirstOrDefault();
        error = PriorityClasses.HeaderError(header);
        if (error is not null)
        {
            return surfaceDefault;
        }

        // An invalid body value is left for the backend to reject precisely; here it just does not count.
        var fromBody = PriorityClasses.All.Contains(fields.Priority ?? "");
        var requested = fromBody ? fields.Priority : header;
        if (requested == PriorityClasses.Realtime && surfaceDefault == PriorityClasses.Batch && !identity.AllowRealtime)
        {
            // The param names what asked for realtime: the body's field, or the header.
            error = new ApiError(
                StatusCodes.Status403Forbidden,
                $"API key '{identity.KeyName}' may not use the realtime priority.",
                ErrorTypes.Permission,
                fromBody ? "priority" : MeshHeaders.Priority,
                "priority_not_allowed");
            return surfaceDefault;
        }

        return requested ?? surfaceDefault;
    }

    private static string? ChooseVariant(HttpContext context, RoutingTable table, ClientIdentity identity, out ApiError? error)
    {
        error = null;
        if (context.Request.Headers[MeshHeaders.Variant].FirstOrDefault() is { } forced)
        {
            if (!table.Available.Contains(forced))
            {
                error = ApiError.InvalidRequest(
                    $"Unknown variant '{forced}'; this gateway serves: {string.Join(", ", table.Available.Order(StringComparer.Ordinal))}.", MeshHeaders.Variant, "unknown_variant");
            }

            return forced;
        }

        return table.Assigner?.Assign(identity.ClientId);
    }

    /// <summary>
    /// The table for the proxy's current clusters and weights: rebuilt only when either changed, since sorting the pools
    /// and building an assigner on every request cost the hot path more than all of YARP's own request setup.
    /// </summary>
    private RoutingTable CurrentTable()
    {
        var weights = variants.CurrentValue.Weights;
        var clusters = proxyState.GetClusters();
        var table = _table;
        if (table is not null && table.IsFor(clusters, weights))
        {
            return table;
        }

        table = RoutingTable.Build(clusters, weights);
        _table = table;
        return table;
    }

    private static string Metadata(ClusterState cluster, string key) => cluster.Model.Config.Metadata?.GetValueOrDefault(key) ?? "";

    /// <summary>
    /// Reads the body into memory, at most <see cref="SpeechRequestParser.MaxBodyBytes"/> of it whatever Content-Length
    /// says (a chunked upload is cut off as soon as it passes the limit, not spooled to disk), and puts the copy back as
    /// the request body so a failed attempt can send it again.
    /// </summary>
    private static async Task<BufferedBody> BufferBodyAsync(HttpContext context)
    {
        var request = context.Request;
        if (!HttpMethods.IsPost(request.Method))
        {
            return new BufferedBody(RoutingFields.None, null);
        }

        if (JsonBodyContentType.TransferCodingRefusal(request) is { } transferCoding)
        {
            return new BufferedBody(RoutingFields.None, transferCoding);
        }

        if (request.ContentLength > SpeechRequestParser.MaxBodyBytes)
        {
            return TooLarge();
        }

        byte[] buffer;
        int length;
        try
        {
            (buffer, length) = request.ContentLength is { } declared
                ? await ReadDeclaredAsync(request.Body, (int)declared, context.RequestAborted)
                : await ReadChunkedAsync(request.Body, context.RequestAborted);
        }
        catch (BadHttpRequestException ex)
        {
            return new BufferedBody(RoutingFields.None, ApiResults.FromBadRequest(ex));
        }
        catch (IOException ex)
        {
            throw ClientReset.WhileReadingBody(context, ex);
        }

        if (length < 0)
        {
            return TooLarge();
        }

        request.Body = new MemoryStream(buffer, 0, length, writable: false);
        // A body the backend refuses for its Content-Type or Content-Encoding is not read here either: in another charset,
        // or compressed, its fields would be misread as UTF-8, and a priority misread from it could be refused ahead of
        // the 415 that names the real mistake.
        var fields = JsonBodyContentType.Refusal(request) is null ? RoutingFields.Read(buffer.AsSpan(0, length)) : RoutingFields.None;
        return new BufferedBody(fields, null);
    }

    /// <summary>A body of declared length, read into a buffer of that size (the server fails a body that ends early).</summary>
    private static async Task<(byte[] Buffer, int Length)> ReadDeclaredAsync(Stream body, int declared, CancellationToken cancellationToken)
    {
        var buffer = new byte[declared];
        return (buffer, await body.ReadAtLeastAsync(buffer, declared, throwOnEndOfStream: false, cancellationToken));
    }

    /// <summary>A body of unknown length, cut off as soon as it passes the limit; -1 when it does.</summary>
    private static async Task<(byte[] Buffer, int Length)> ReadChunkedAsync(Stream body, CancellationToken cancellationToken)
    {
        var copy = new MemoryStream();
        var chunk = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await body.ReadAsync(chunk, cancellationToken)) > 0)
            {
                if (copy.Length + read > SpeechRequestParser.MaxBodyBytes)
                {
                    return ([], -1);
                }

                copy.Write(chunk, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        return (copy.GetBuffer(), (int)copy.Length);
    }

    private static BufferedBody TooLarge() =>
        new(RoutingFields.None, ApiError.TooLarge($"Request body exceeds {SpeechRequestParser.MaxBodyBytes} bytes."));

    private sealed record BufferedBody(RoutingFields Fields, ApiError? Error);

    /// <summary>
    /// <c>/v1/audio/speech</c> (a whole file, or OpenAI's SSE with <c>stream_format</c>), the sentence SSE stream, or
    /// another streaming surface (raw PCM, WebSocket).
    /// </summary>
    private enum Surface
    {
        Other,
        Speech,
        SentenceStream,
    }

    /// <summary>The variant clusters of one proxy configuration, and the assigner for one set of weights.</summary>
    private sealed class RoutingTable
    {
        private readonly ClusterModel[] _models;
        private readonly IReadOnlyDictionary<string, double> _weights;
        private readonly ClusterState[] _clusters;

        private RoutingTable(ClusterModel[] models, IReadOnlyDictionary<string, double> weights, ClusterState[] clusters)
        {
            _models = models;
            _weights = weights;
            _clusters = clusters;
            Available = clusters.Select(c => Metadata(c, FleetProxyConfigProvider.VariantKey)).ToHashSet(StringComparer.Ordinal);
            Assigner = Available.Count == 0 ? null : new VariantAssigner(VariantAssigner.EffectiveWeights(Available, weights));
        }

        public HashSet<string> Available { get; }

        public VariantAssigner? Assigner { get; }

        public static RoutingTable Build(IEnumerable<ClusterState> clusters, IReadOnlyDictionary<string, double> weights)
        {
            var all = clusters.ToArray();
            return new RoutingTable([.. all.Select(c => c.Model)], weights, [.. all.Where(c => c.Model.Config.Metadata?.ContainsKey(FleetProxyConfigProvider.VariantKey) == true)]);
        }

        /// <summary>Whether the proxy still has the same clusters, each with the same configuration, and the weights are the same.</summary>
        public bool IsFor(IEnumerable<ClusterState> clusters, IReadOnlyDictionary<string, double> weights)
        {
            if (!ReferenceEquals(weights, _weights))
            {
                return false;
            }

            var index = 0;
            foreach (var cluster in clusters)
            {
                if (index == _models.Length || !ReferenceEquals(cluster.Model, _models[index++]))
                {
                    return false;
                }
            }

            return index == _models.Length;
        }

        public ClusterState? PoolFor(string variant, string priority)
        {
            ClusterState? shared = null, any = null;
            foreach (var cluster in _clusters)
            {
                if (Metadata(cluster, FleetProxyConfigProvider.VariantKey) != variant)
                {
                    continue;
                }

                var pool = Metadata(cluster, FleetProxyConfigProvider.PoolKey);
                if (pool == priority)
                {
                    return cluster;
                }

                shared ??= pool == Pools.Shared ? cluster : null;
                any ??= cluster;
            }

            return shared ?? any;
        }
    }
}
