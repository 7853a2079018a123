using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using OtelThreadCtx;

// Usage: OtelThreadCtx.AotBenchmarks <build label> [--short]: one markdown row per scenario, "| scenario | build | ns/op | B/op |".
// The same program runs under the JIT (dotnet OtelThreadCtx.AotBenchmarks.dll, the library beside it) and published
// NativeAOT with the library linked in, so the rows compare the two on the same scenarios.
// Each scenario runs 7 rounds of a fixed number of operations after a warm-up; the row is the median round.
var label = args.Length > 0 ? args[0] : "unnamed";
var iterations = args.Contains("--short") ? 200_000 : 20_000_000;
if (!ThreadContext.IsSupported)
{
    Console.Error.WriteLine($"not supported: {ThreadContext.UnavailableReason}");
    return 1;
}

var contexts = Enumerable.Range(0, 16).Select(_ => new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded)).ToArray();
var ids = contexts.Select(c => { var b = new byte[24]; c.TraceId.CopyTo(b.AsSpan(0, 16)); c.SpanId.CopyTo(b.AsSpan(16, 8)); return b; }).ToArray();
var records = Enumerable.Range(0, 4).Select(_ => { var r = new ThreadContextRecord(); r.SetIds(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded); return r; }).ToArray();
var handles = Enumerable.Range(0, 4).Select(_ => CApi.RecordNew()).ToArray();
var record = new ThreadContextRecord();
var handle = CApi.RecordNew();

Run("set/ids", n =>
{
    for (var i = 0; i < n; i++)
    {
        ref readonly var c = ref contexts[i & 15];
        ThreadContext.Set(c.TraceId, c.SpanId, c.TraceFlags);
    }
});
Run("set/ids [C API]", n =>
{
    for (var i = 0; i < n; i++)
    {
        CApi.SetIds(ids[i & 15]);
    }
});
ThreadContext.Clear();
Run("attach_detach", n =>
{
    for (var i = 0; i < n; i++)
    {
        ThreadContext.Attach(record);
        ThreadContext.Detach();
    }
});
Run("attach_detach [C API]", n =>
{
    for (var i = 0; i < n; i++)
    {
        CApi.Attach(handle);
        CApi.Detach();
    }
});
Run("multi/swap/4", n =>
{
    for (var i = 0; i < n; i++)
    {
        ThreadContext.Attach(records[i & 3]);
    }
});
Run("multi/swap/4 [C API]", n =>
{
    for (var i = 0; i < n; i++)
    {
        CApi.Attach(handles[i & 3]);
    }
});
ThreadContext.Detach();
CApi.Detach();
return 0;

void Run(string name, Action<int> body)
{
    body(iterations / 10);
    var rounds = new double[7];
    long allocated = 0;
    for (var r = 0; r < rounds.Length; r++)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var watch = Stopwatch.StartNew();
        body(iterations);
        watch.Stop();
        allocated = Math.Max(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        rounds[r] = watch.Elapsed.TotalNanoseconds / iterations;
    }

    Array.Sort(rounds);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {label} | {rounds[3]:0.00} | {allocated / (double)iterations:0} |"));
}

/// <summary>The C API: called directly where the executable links it in (DirectPInvoke "otel_thread_ctx"), through the
/// library beside the app under the JIT.</summary>
internal static unsafe partial class CApi
{
    [LibraryImport("otel_thread_ctx", EntryPoint = "otel_thread_ctx_record_new")]
    [SuppressGCTransition]
    public static partial nint RecordNew();

    [LibraryImport("otel_thread_ctx", EntryPoint = "otel_thread_ctx_attach")]
    [SuppressGCTransition]
    public static partial nint Attach(nint record);

    [LibraryImport("otel_thread_ctx", EntryPoint = "otel_thread_ctx_detach")]
    [SuppressGCTransition]
    public static partial nint Detach();

    [LibraryImport("otel_thread_ctx", EntryPoint = "otel_thread_ctx_set")]
    [SuppressGCTransition]
    private static partial int Set(byte* traceId, byte* spanId, byte flags, byte* attributes, nuint length);

    public static void SetIds(byte[] ids)
    {
        fixed (byte* p = ids)
        {
            Set(p, p + 16, 1, null, 0);
        }
    }
}
