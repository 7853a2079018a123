using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using OtelThreadCtx;

// Publishes OTEP 4947 thread context automatically from Activity.Current, on threads and across awaits,
// and prints, on each thread, what a profiler reading otel_thread_ctx_v1 there would see.
Console.WriteLine($"OtelThreadCtx supported here: {ThreadContext.IsSupported}");

using var source = new ActivitySource("Quickstart");
using var listener = new ActivityListener
{
    ShouldListenTo = s => s.Name == "Quickstart",
    Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
};
ActivitySource.AddActivityListener(listener);

var options = new ActivityPublisherOptions();
options.AttributeTagNames.Add("http.route");
using var publisher = ActivityThreadContextPublisher.Start(options);

void Print(string where)
{
    Span<byte> bytes = stackalloc byte[ThreadContextRecord.Size];
    var length = ThreadContext.ReadCurrent(bytes);
    if (length == 0)
    {
        Console.WriteLine($"{where,-18} thread {Environment.CurrentManagedThreadId,3}: nothing published");
        return;
    }

    var attrs = BinaryPrimitives.ReadUInt16LittleEndian(bytes[26..28]);
    var route = attrs >= 2 ? $"{ThreadContextKeys.Names[bytes[28]]}={Encoding.UTF8.GetString(bytes.Slice(30, bytes[29]))}" : "-";
    Console.WriteLine(
        $"{where,-18} thread {Environment.CurrentManagedThreadId,3}: trace {Convert.ToHexStringLower(bytes[..16])} span {Convert.ToHexStringLower(bytes[16..24])} " +
        $"valid {bytes[24]} flags {bytes[25]:x2} {route} (span of Activity.Current: {Activity.Current?.SpanId.ToHexString() ?? "none"})");
}

var threads = Enumerable.Range(0, 3).Select(i => new Thread(() =>
{
    using var activity = source.StartActivity(ActivityKind.Server, tags: [new("http.route", $"/thread/{i}")], name: $"thread-{i}");
    Print($"thread {i}");
})).ToList();
threads.ForEach(t => t.Start());
threads.ForEach(t => t.Join());

await Task.WhenAll(Enumerable.Range(0, 3).Select(async i =>
{
    using var activity = source.StartActivity(ActivityKind.Server, tags: [new("http.route", $"/async/{i}")], name: $"async-{i}");
    await Task.Yield();
    Print($"async {i} (yield)");
    await Task.Delay(10);
    Print($"async {i} (delay)");
}));

Print("main, no activity");

// The process context (OTEP 4719) that readers check before reading any thread's record.
var mapping = File.ReadLines("/proc/self/maps").FirstOrDefault(l => l.Contains("OTEL_CTX", StringComparison.Ordinal));
Console.WriteLine($"process context: {OtelProcessContext.Status}; /proc/{Environment.ProcessId}/maps: {mapping?.Trim() ?? "(none)"}");
Console.WriteLine($"attribute key map: [{string.Join(", ", ThreadContextKeys.Names)}]");

// --hold: keep one request-like Activity current on a worker thread until stdin closes, so that a reader from outside
// (otel-thread-ctx inspect <pid>, a profiler) can see it.
if (args.Contains("--hold"))
{
    using var held = new ManualResetEventSlim();
    var worker = new Thread(() =>
    {
        using var activity = source.StartActivity(ActivityKind.Server, tags: [new("http.route", "/held")], name: "held");
        Console.WriteLine($"holding: pid {Environment.ProcessId}, thread {Environment.CurrentManagedThreadId}, trace {activity?.TraceId} span {activity?.SpanId}");
        held.Wait();
    }) { Name = "quickstart-held" };
    worker.Start();
    Console.In.ReadToEnd();
    held.Set();
    worker.Join();
}

return 0;
