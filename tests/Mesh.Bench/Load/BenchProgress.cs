using Spectre.Console;

namespace Mesh.Bench.Load;

/// <summary>Where a run reports its progress: a bar per comparison on a console, nothing in tests.</summary>
public interface IBenchProgress
{
    IProgressItem Start(string description, double total);
}

public interface IProgressItem
{
    void Update(double value, string description);

    void Done(string description);
}

/// <summary>No output, for callers that only want the results.</summary>
public sealed class SilentProgress : IBenchProgress
{
    public IProgressItem Start(string description, double total) => new Item();

    private sealed class Item : IProgressItem
    {
        public void Update(double value, string description)
        {
        }

        public void Done(string description)
        {
        }
    }
}

/// <summary>One line per finished run, for logs and terminals that cannot redraw bars.</summary>
public sealed class LineProgress(TextWriter output) : IBenchProgress
{
    public IProgressItem Start(string description, double total) => new Item(output, System.Diagnostics.Stopwatch.StartNew());

    private sealed class Item(TextWriter output, System.Diagnostics.Stopwatch elapsed) : IProgressItem
    {
        public void Update(double value, string description)
        {
        }

        public void Done(string description)
        {
            lock (output)
            {
                output.WriteLine($"{description} ({elapsed.Elapsed.TotalSeconds:0.0} s)");
            }
        }
    }
}

/// <summary>Spectre.Console progress bars; used where the terminal is interactive.</summary>
public sealed class ConsoleProgress(ProgressContext context) : IBenchProgress
{
    public IProgressItem Start(string description, double total) =>
        new Item(context.AddTask(Markup.Escape(description), maxValue: Math.Max(total, 1e-9)));

    private sealed class Item(ProgressTask task) : IProgressItem
    {
        public void Update(double value, string description)
        {
            task.Value = Math.Min(value, task.MaxValue);
            task.Description = Markup.Escape(description);
        }

        public void Done(string description)
        {
            task.Description = Markup.Escape(description);
            task.Value = task.MaxValue;
            task.StopTask();
        }
    }
}
