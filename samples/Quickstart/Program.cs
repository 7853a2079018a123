using System.Buffers.Binary;
using System.Diagnostics;
using OtelThreadCtx;

// Publishes an OTEP 4947 thread context from a few threads and async flows, and prints what a
// profiler reading otel_thread_ctx_v1 on each thread would see.
Console.WriteLine($"OtelThreadCtx supported here: {ThreadContext.IsSupported}");
if (!ThreadContext.IsSupported)
{
    return 0;
}

using var source = new ActivitySource("Quickstart");
using var listener = new ActivityListener
{
    ShouldListenTo = _ => true,
    Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
};
ActivitySource.AddActivityListener(listener);
var route = ThreadContextKeys.Register("http.route");

void PublishAndPrint(string where)
{
    var activity = Activity.Current!;
    var record = new ThreadContextRecord(activity);
    record.AddAttribute(route, where);
    ThreadContext.Attach(record)?.Dispose();

    Span<byte> bytes = stackalloc byte[ThreadContextRecord.Size];
    var length = ThreadContext.ReadCurrent(bytes);
    var attrs = BinaryPrimitives.ReadUInt16LittleEndian(bytes[26..28]);
    Console.WriteLine(
        $"thread {Environment.CurrentManagedThreadId,3}: trace {Convert.ToHexStringLower(bytes[..16])} span {Convert.ToHexStringLower(bytes[16..24])} " +
        $"valid {bytes[24]} flags {bytes[25]:x2} attrs {attrs}B ({route.Name}={System.Text.Encoding.UTF8.GetString(bytes.Slice(30, bytes[29]))}) record {length}B");
    if (ThreadContext.Detach() is { } previous)
    {
        previous.Dispose();
    }
}

var threads = Enumerable.Range(0, 3).Select(i => new Thread(() =>
{
    using var activity = source.StartActivity($"thread-{i}");
    PublishAndPrint($"/thread/{i}");
})).ToList();
threads.ForEach(t => t.Start());
threads.ForEach(t => t.Join());

await Task.WhenAll(Enumerable.Range(0, 3).Select(async i =>
{
    using var activity = source.StartActivity($"async-{i}");
    await Task.Yield();
    PublishAndPrint($"/async/{i}");
}));

return 0;
