using System.Text.Json;
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
public sealed class RequestRoutingMiddleware(RequestDelegate next, IProxyStateLookup proxyState, IOptionsMonitor<VariantOptions> variants)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var body = await BufferBodyAsync(context);
        if (body.Error is { } bodyError)
        {
            await ApiResults.WriteErrorAsync(context, bodyError);
            return;
        }

        var identity = ClientIdentity.Of(context) ?? new ClientIdentity(context.Connection.RemoteIpAddress?.ToString() ?? "unknown", null, true);
        var priority = Classify(context.Request, body.Fields, identity, out var priorityError);
        if (priorityError is not null)
        {
            await ApiResults.WriteErrorAsync(context, priorityError);
            return;
        }

        var clusters = proxyState.GetClusters().Where(c => c.Model.Config.Metadata?.ContainsKey(FleetProxyConfigProvider.VariantKey) == true).ToArray();
        var variant = ChooseVariant(context, clusters, identity, out var variantError);
        if (variantError is not null)
        {
            await ApiResults.WriteErrorAsync(context, variantError);
            return;
        }

        var cluster = variant is null ? null : PoolFor(clusters, variant, priority);
        var isSse = context.Request.Path.Equals("/v1/audio/speech/stream", StringComparison.Ordinal) ||
            (context.Request.Path.Equals("/v1/audio/speech", StringComparison.Ordinal) && body.Fields.StreamFormat == StreamFormats.Sse);
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
            context.Response.Headers.TryAdd(MeshHeaders.Variant, decision.Variant);
            return Task.CompletedTask;
        });
        await next(context);
    }

    private static string Classify(HttpRequest request, BodyFields fields, ClientIdentity identity, out ApiError? error)
    {
        error = null;
        var isWholeFile = request.Path.Equals("/v1/audio/speech", StringComparison.Ordinal) && fields.StreamFormat != StreamFormats.Sse;
        var surfaceDefault = isWholeFile ? PriorityClasses.Batch : PriorityClasses.Realtime;
        var header = request.Headers[MeshHeaders.Priority].FirstOrDefault();
        if (header is not null && !PriorityClasses.All.Contains(header))
        {
            error = ApiError.InvalidRequest(
                $"X-Priority '{header}' is not valid; expected one of: {string.Join(", ", PriorityClasses.All)}.", MeshHeaders.Priority, "invalid_value");
            return surfaceDefault;
        }

        // An invalid body value is left for the backend to reject precisely; here it just does not count.
        var requested = PriorityClasses.All.Contains(fields.Priority ?? "") ? fields.Priority : header;
        if (requested == PriorityClasses.Realtime && surfaceDefault == PriorityClasses.Batch && !identity.AllowRealtime)
        {
            error = new ApiError(StatusCodes.Status403Forbidden, $"API key '{identity.KeyName}' may not use the realtime priority.", "permission_error", "priority", "priority_not_allowed");
            return surfaceDefault;
        }

        return requested ?? surfaceDefault;
    }

    private string? ChooseVariant(HttpContext context, ClusterState[] clusters, ClientIdentity identity, out ApiError? error)
    {
        error = null;
        var available = clusters.Select(c => Metadata(c, FleetProxyConfigProvider.VariantKey)).ToHashSet(StringComparer.Ordinal);
        if (context.Request.Headers[MeshHeaders.Variant].FirstOrDefault() is { } forced)
        {
            if (!available.Contains(forced))
            {
                error = ApiError.InvalidRequest(
                    $"Unknown variant '{forced}'; this gateway serves: {string.Join(", ", available.Order(StringComparer.Ordinal))}.", MeshHeaders.Variant, "unknown_variant");
            }

            return forced;
        }

        if (available.Count == 0)
        {
            return null;
        }

        return new VariantAssigner(VariantAssigner.EffectiveWeights(available, variants.CurrentValue.Weights)).Assign(identity.ClientId);
    }

    private static ClusterState? PoolFor(ClusterState[] clusters, string variant, string priority)
    {
        var ofVariant = clusters.Where(c => Metadata(c, FleetProxyConfigProvider.VariantKey) == variant).ToArray();
        return ofVariant.FirstOrDefault(c => Metadata(c, FleetProxyConfigProvider.PoolKey) == priority)
            ?? ofVariant.FirstOrDefault(c => Metadata(c, FleetProxyConfigProvider.PoolKey) == Pools.Shared)
            ?? ofVariant.FirstOrDefault();
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
            return new BufferedBody(BodyFields.None, null);
        }

        if (request.ContentLength > SpeechRequestParser.MaxBodyBytes)
        {
            return TooLarge();
        }

        var copy = new MemoryStream();
        context.Response.RegisterForDispose(copy);
        var chunk = new byte[16 * 1024];
        int read;
        try
        {
            while ((read = await request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
            {
                if (copy.Length + read > SpeechRequestParser.MaxBodyBytes)
                {
                    return TooLarge();
                }

                copy.Write(chunk, 0, read);
            }
        }
        catch (BadHttpRequestException ex)
        {
            return new BufferedBody(BodyFields.None, ApiResults.FromBadRequest(ex));
        }

        copy.Position = 0;
        request.Body = copy;
        return new BufferedBody(BodyFields.Read(copy.GetBuffer().AsSpan(0, (int)copy.Length)), null);
    }

    private static BufferedBody TooLarge() =>
        new(BodyFields.None, ApiError.TooLarge($"Request body exceeds {SpeechRequestParser.MaxBodyBytes} bytes."));

    private sealed record BufferedBody(BodyFields Fields, ApiError? Error);

    /// <summary>The two body fields routing needs; a body that is not a JSON object yields none (the backend explains why).</summary>
    private sealed record BodyFields(string? StreamFormat, string? Priority)
    {
        public static BodyFields None { get; } = new(null, null);

        public static BodyFields Read(ReadOnlySpan<byte> json)
        {
            try
            {
                var reader = new Utf8JsonReader(json);
                using var document = JsonDocument.ParseValue(ref reader);
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                {
                    return None;
                }

                return new BodyFields(StringField(document.RootElement, "stream_format"), StringField(document.RootElement, "priority"));
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException)
            {
                // InvalidOperationException: a string field with an escape that is not Unicode (a lone surrogate).
                return None;
            }
        }

        private static string? StringField(JsonElement body, string name) =>
            body.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
    }
}
