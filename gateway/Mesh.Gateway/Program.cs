using Mesh.Gateway;
using Prometheus;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Services.AddReverseProxy().LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"));

var app = builder.Build();
app.UseMiddleware<RequestIdMiddleware>();
app.MapGatewayEndpoints();
app.MapReverseProxy(proxy =>
{
    proxy.UseLoadBalancing();
    proxy.UsePassiveHealthChecks();
    proxy.UseMiddleware<ProxyErrorMiddleware>();
});
app.MapMetrics();
app.Run();
