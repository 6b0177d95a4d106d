using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Mesh.Contracts.Http;

/// <summary>
/// Lets <c>Logging:Console:FormatterName</c> pick <c>json</c> (one JSON object a line, scopes as properties, for log
/// collectors) or <c>systemd</c> besides the default <c>simple</c>: the slim host registers the simple formatter only,
/// and silently falls back to it for any other name.
/// </summary>
public static class ConsoleLogFormats
{
    public static WebApplicationBuilder UseConsoleLogFormats(this WebApplicationBuilder builder)
    {
        // Each Add...Console also makes its formatter the chosen one; simple, added last, stays the default, and the
        // configuration, bound after them, has the last word.
        builder.Logging.AddJsonConsole().AddSystemdConsole().AddSimpleConsole();
        builder.Services.Configure<ConsoleLoggerOptions>(builder.Configuration.GetSection("Logging:Console"));
        return builder;
    }
}
