using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Mesh.Contracts;
using Mesh.Tests.Integration;

namespace Mesh.Tests.Observability;

/// <summary>
/// The logs of one request carry its <c>X-Request-Id</c>, at the gateway and at the backend, in the default console
/// format and in JSON: what an operator searches for when a client reports a failed request.
/// </summary>
public sealed class RequestLogTests
{
    private static readonly object FailingRequest = new { model = "tts-1", voice = "alloy", input = "This sentence fails on purpose." };

    [Fact]
    public async Task A_failed_request_is_logged_with_its_request_id_by_the_gateway_and_the_backend()
    {
        await using var backend = await MeshFleet.StartBackendAsync("logged", "test", "--Faults:FailureRatio=1");
        // YARP logs each request it forwards at Information: a line of the gateway's inside the request.
        await using var gateway = await MeshFleet.StartGatewayAsync([backend.Url], "--Logging:LogLevel:Yarp=Information");
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(30));
        var requestId = "log-" + Guid.NewGuid().ToString("N");

        await SendAsync(gateway.Url, requestId);

        await AssertLoggedWithinAsync(gateway, requestId, "Proxying to " + backend.Url.GetLeftPart(UriPartial.Authority));
        await AssertLoggedWithinAsync(backend, requestId, "Synthesis failed");
    }

    [Fact]
    public async Task Json_logs_are_one_object_a_line_with_the_request_id_among_the_scopes()
    {
        await using var backend = await MeshFleet.StartBackendAsync("json-logged", "test", "--Faults:FailureRatio=1", "--Logging:Console:FormatterName=json");
        var requestId = "json-" + Guid.NewGuid().ToString("N");

        await SendAsync(backend.Url, requestId);

        var failure = await LoggedFailureAsync(backend, requestId);
        Assert.Equal("Error", failure.GetProperty("LogLevel").GetString());
        // Every line, the start-up's included, is JSON: a collector reads the whole stream.
        Assert.All(Lines(backend.Output), line => Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(line).RootElement.ValueKind));
    }

    /// <remarks>
    /// A WebSocket request's id is its own, given in its events, not the upgrade's: the failure is logged with the one
    /// the client has, under the WebSocket endpoint's category.
    /// </remarks>
    [Fact]
    public async Task A_failed_WebSocket_request_is_logged_with_the_request_id_its_events_gave_the_client()
    {
        await using var backend = await MeshFleet.StartBackendAsync("ws-logged", "test", "--Faults:FailureRatio=1", "--Logging:Console:FormatterName=json");
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{backend.Url.Authority}/v1/audio/speech/ws"), CancellationToken.None);
        await socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(FailingRequest), WebSocketMessageType.Text, true, CancellationToken.None);

        var requestId = (await WebSocketMessages.ReceiveEventAsync(socket, TimeSpan.FromSeconds(30))).GetProperty("request_id").GetString()!;
        JsonElement error;
        do
        {
            error = await WebSocketMessages.ReceiveEventAsync(socket, TimeSpan.FromSeconds(30));
        }
        while (error.GetProperty("type").GetString() == StreamEvent.Sentence);

        Assert.Equal(StreamEvent.Failure, error.GetProperty("type").GetString());
        Assert.Equal(requestId, error.GetProperty("request_id").GetString());

        var failure = await LoggedFailureAsync(backend, requestId);
        Assert.Equal("Mesh.Backend.Host.WebSocketEndpoints", failure.GetProperty("Category").GetString());
    }

    /// <summary>The JSON line of the backend's "Synthesis failed", which must carry <paramref name="requestId"/> among its scopes.</summary>
    private static async Task<JsonElement> LoggedFailureAsync(HostProcess backend, string requestId)
    {
        var failure = await EventuallyAsync(() => Lines(backend.Output).Select(line => JsonDocument.Parse(line).RootElement)
            .FirstOrDefault(entry => entry.GetProperty("Message").GetString() == "Synthesis failed"));
        Assert.Contains(failure.GetProperty("Scopes").EnumerateArray(),
            scope => scope.ValueKind == JsonValueKind.Object && scope.TryGetProperty(MeshHeaders.RequestId, out var id) && id.GetString() == requestId);
        return failure;
    }

    private static async Task SendAsync(Uri url, string requestId)
    {
        using var client = new HttpClient { BaseAddress = url };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech") { Content = JsonContent.Create(FailingRequest) };
        request.Headers.Add(MeshHeaders.RequestId, requestId);
        using var response = await client.SendAsync(request);
        Assert.Equal(500, (int)response.StatusCode);
    }

    /// <summary>In the simple format a line's scopes come on the line above its message, the request's last.</summary>
    private static async Task AssertLoggedWithinAsync(HostProcess process, string requestId, string message)
    {
        var pattern = new Regex($@"=> {Regex.Escape(MeshHeaders.RequestId)}:{Regex.Escape(requestId)}\r?\n\s+{Regex.Escape(message)}");
        Assert.True(await EventuallyAsync(() => pattern.IsMatch(process.Output)), $"no \"{message}\" line in the scope of {requestId}:\n{process.Output}");
    }

    private static IEnumerable<string> Lines(string output) => output.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0);

    /// <summary>The process writes its log a moment after it answers.</summary>
    private static async Task<T?> EventuallyAsync<T>(Func<T?> probe)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            if (probe() is { } value && !EqualityComparer<T>.Default.Equals(value, default))
            {
                return value;
            }

            await Task.Delay(100);
        }

        return probe();
    }
}
