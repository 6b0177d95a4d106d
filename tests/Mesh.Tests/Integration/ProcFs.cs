using System.Globalization;

namespace Mesh.Tests.Integration;

/// <summary>What /proc says about a process: whether it runs, when it started, its children and command line.</summary>
public static class ProcFs
{
    // USER_HZ, the unit of /proc's process times: 100 on every Linux ABI.
    private const double ClockTicksPerSecond = 100;

    /// <summary>
    /// Whether the process runs. /proc/PID exists while the process, or an unreaped zombie of it, does (a killed
    /// process whose parent is gone may stay a zombie for a while); a zombie's state is 'Z'.
    /// </summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            return !StatFields(File.ReadAllText($"/proc/{pid}/stat"))[0].Equals("Z", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
    }

    /// <summary>A process's start time in clock ticks after boot, as ./mesh records it in the fleet file.</summary>
    public static long StartTime(int pid) =>
        long.Parse(StatFields(File.ReadAllText($"/proc/{pid}/stat"))[19], CultureInfo.InvariantCulture);

    /// <summary>When the process started, as time after boot on the clock of <see cref="SinceBoot"/>.</summary>
    public static TimeSpan StartedAfterBoot(int pid) => TimeSpan.FromSeconds(StartTime(pid) / ClockTicksPerSecond);

    /// <summary>The time since boot, to the hundredth of a second: the clock that process start times count on.</summary>
    public static TimeSpan SinceBoot() =>
        TimeSpan.FromSeconds(double.Parse(File.ReadAllText("/proc/uptime").Split(' ')[0], CultureInfo.InvariantCulture));

    /// <summary>The processes whose parent is <paramref name="pid"/>.</summary>
    public static int[] Children(int pid) =>
    [
        .. Directory.EnumerateDirectories("/proc")
            .Select(Path.GetFileName)
            .Where(name => name!.All(char.IsAsciiDigit))
            .Select(name => int.Parse(name!, CultureInfo.InvariantCulture))
            .Where(child => ParentOf(child) == pid),
    ];

    /// <summary>The process's command line, its arguments joined by spaces; empty once it is gone.</summary>
    public static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return "";
        }
    }

    /// <summary>
    /// The threads of the process blocked opening a FIFO whose other end nobody has opened yet. A .NET process has one
    /// of its own (the runtime's diagnostics pipe), so compare counts rather than look for any.
    /// </summary>
    public static int ThreadsOpeningFifos(int pid) =>
        Directory.EnumerateDirectories($"/proc/{pid}/task").Count(task => ReadOrEmpty(Path.Combine(task, "wchan")) == "wait_for_partner");

    private static string ReadOrEmpty(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            // The thread ended meanwhile.
            return "";
        }
    }

    private static int? ParentOf(int pid)
    {
        try
        {
            return int.Parse(StatFields(File.ReadAllText($"/proc/{pid}/stat"))[1], CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return null;
        }
    }

    /// <summary>The fields of /proc/PID/stat after the name (which is in parentheses and may hold spaces): the state first, then the parent's PID.</summary>
    public static string[] StatFields(string stat) => stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
}
