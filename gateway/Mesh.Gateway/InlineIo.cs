namespace Mesh.Gateway;

/// <summary>
/// The gateway runs socket completions (the runtime's) and Kestrel's continuations on the I/O thread that saw them,
/// instead of queueing each to the thread pool: a proxied request then crosses no thread hops between the client's
/// bytes, the backend call and the first audio back, and on a busy host every hop is a wait for a core. Safe because
/// nothing on the gateway's request path blocks. <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=0</c> turns both off.
/// </summary>
public static class InlineIo
{
    public const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Turns inline completions on unless the environment says otherwise; call before the first socket is made.</summary>
    /// <returns>Whether they are on.</returns>
    public static bool Enable()
    {
        var configured = Environment.GetEnvironmentVariable(Variable);
        if (configured is null)
        {
            Environment.SetEnvironmentVariable(Variable, "1");
            return true;
        }

        return configured == "1";
    }
}
