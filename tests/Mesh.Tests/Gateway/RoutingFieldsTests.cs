using System.Text;
using Mesh.Gateway.Routing;

namespace Mesh.Tests.Gateway;

public sealed class RoutingFieldsTests
{
    [Theory]
    [InlineData("""{"input":"Hi.","stream_format":"sse","priority":"batch"}""", "sse", "batch")]
    [InlineData("""{"input":"Hi."}""", null, null)]
    [InlineData("""{"priority":"realtime","input":"Hi."}""", null, "realtime")]
    [InlineData("""{"stream_format":1,"priority":false}""", null, null)]
    [InlineData("""{"priority":"batch","priority":"realtime"}""", null, "realtime")]
    [InlineData("""{"extra":{"priority":"batch","stream_format":"sse"},"list":[{"priority":"x"}],"stream_format":"audio"}""", "audio", null)]
    [InlineData("""{"stream_format":"s\u0073e"}""", "sse", null)]
    [InlineData("""{"priority":"batch"} trailing""", null, "batch")]
    public void Reads_the_top_level_string_fields_only(string json, string? streamFormat, string? priority)
    {
        Assert.Equal(new RoutingFields(streamFormat, priority), RoutingFields.Read(Encoding.UTF8.GetBytes(json)));
    }

    [Fact]
    public void A_leading_byte_order_mark_is_read_past()
    {
        Assert.Equal(new RoutingFields("sse", "batch"), RoutingFields.Read([0xEF, 0xBB, 0xBF, .. """{"stream_format":"sse","priority":"batch"}"""u8]));
    }

    [Theory]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("\"text\"")]
    [InlineData("""{"priority":"batch",""")]
    [InlineData("""{"priority":"batch","input":}""")]
    [InlineData("""{"priority":"\ud800"}""")]
    [InlineData("not json")]
    public void A_body_that_is_not_a_readable_object_yields_no_fields(string json)
    {
        Assert.Same(RoutingFields.None, RoutingFields.Read(Encoding.UTF8.GetBytes(json)));
    }
}
