using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using OtelThreadCtx;

// Usage: OtelThreadCtx.ToolTarget [threads]
var count = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 4;
OtelProcessContext.Publish([new("service.name", "tool-target")]);
var route = ThreadContextKeys.Register("http.route");
var user = ThreadContextKeys.Register("enduser.id");
using var done = new ManualResetEventSlim();
var ready = new CountdownEvent(count);
var lines = new string[count];
var threads = Enumerable.Range(0, count).Select(i => new Thread(() =>
{
    var trace = ActivityTraceId.CreateRandom();
    var span = ActivitySpanId.CreateRandom();
    var flags = i % 2 == 0 ? ActivityTraceFlags.Recorded : ActivityTraceFlags.None;
    var builder = new ThreadContextAttributesBuilder();
    builder.Add(route, $"/orders/{i}");
    builder.Add(user, $"user-{i}");
    ThreadContext.Set(trace, span, flags, builder.Build());
    lines[i] = $"thread {Native.GetTid()} {trace.ToHexString()} {span.ToHexString()} {(int)flags} /orders/{i} user-{i}";
    ready.Signal();
    done.Wait();
    ThreadContext.Clear();
})
{
    Name = $"target-{i}",
}).ToList();
threads.ForEach(t => t.Start());
ready.Wait();
foreach (var line in lines)
{
    Console.WriteLine(line);
}

Console.WriteLine($"ready {Environment.ProcessId} supported={ThreadContext.IsSupported}");
Console.Out.Flush();
while (Console.ReadLine() is { } command && command != "exit")
{
}

done.Set();
threads.ForEach(t => t.Join());
return 0;

internal static partial class Native
{
    [LibraryImport("libc", EntryPoint = "gettid")]
    public static partial int GetTid();
}
