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
// The C calls the .NET API makes for shared records (counted and checked attach, clear): the wrapper's own share is the
// difference. Each record carries its index + 1 as the user value, as a binding's value.
var counted = Enumerable.Range(0, 4).Select(i => CApi.RecordNewUser((nuint)i + 1)).ToArray();
var traceId = Convert.FromHexString("0af7651916cd43dd8448eb211c80319c");
var spanId = Convert.FromHexString("b7ad6b7169203331");
var rootSpanId = "b7ad6b7169203330"u8.ToArray();
var key = ThreadContextKeys.Register("local_root_span_id");

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
Run("attach_detach [C API counted]", n =>
{
    for (var i = 0; i < n; i++)
    {
        CApi.AttachCounted(counted[0], 1);
        CApi.Clear();
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
Run("multi/swap/4 [C API counted]", n =>
{
    for (var i = 0; i < n; i++)
    {
        CApi.AttachCounted(counted[i & 3], (nuint)(i & 3) + 1);
    }
});
ThreadContext.Detach();
CApi.Detach();
CApi.Clear();
// single/swap (issue 23): a new record per switch, ids and one 16-byte attribute, attached, the previous one released.
Run("single/swap", n =>
{
    for (var i = 0; i < n; i++)
    {
        var next = new ThreadContextRecord();
        next.SetIds(traceId, spanId, 1);
        next.AddAttribute(key, rootSpanId);
        ThreadContext.Attach(next)?.Dispose();
    }
});
ThreadContext.Detach()?.Dispose();
Run("single/swap [C API]", n =>
{
    for (var i = 0; i < n; i++)
    {
        CApi.SingleSwap(traceId, spanId, rootSpanId);
    }
});
CApi.RecordFree(CApi.Detach());
Run("single/swap [C API counted]", n =>
{
    for (var i = 0; i < n; i++)
    {
        CApi.SingleSwapCounted(traceId, spanId, rootSpanId);
    }
});
CApi.EndCounted();
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

    [LibraryImport("otel_thread_ctx", EntryPoint = "otel_thread_ctx_record_new_user")]
    [SuppressGCTransition]
    public static partial nint RecordNewUser(nuint user);

    [LibraryImport("otel_thread_ctx", EntryPoint = "otel_thread_ctx_record_free")]
    [SuppressGCTransition]
    public static partial void RecordFree(nint record);

    [LibraryImport("otel_thread_ctx", EntryPoint = "otel_thread_ctx_record_set_ids")]
    [SuppressGCTransition]
    private static partial void RecordSetIds(nint record, byte* traceId, byte* spanId, byte flags);

    [LibraryImport("otel_thread_ctx", EntryPoint = "otel_thread_ctx_record_add_attr")]
    [SuppressGCTransition]
    private static partial int RecordAddAttr(nint record, byte key, byte* value, nuint length);

    [LibraryImport("otel_thread_ctx", EntryPoint = "otel_thread_ctx_record_dispose")]
    [SuppressGCTransition]
    private static partial int RecordDispose(nint record);

    [LibraryImport("otel_thread_ctx", EntryPoint = "otel_thread_ctx_attach_counted_checked")]
    [SuppressGCTransition]
    private static partial int AttachCountedChecked(nint record, nuint expected, nuint* previous);

    [LibraryImport("otel_thread_ctx", EntryPoint = "otel_thread_ctx_clear")]
    [SuppressGCTransition]
    public static partial nuint Clear();

    private static nint published;

    public static nuint AttachCounted(nint record, nuint expected)
    {
        nuint previous;
        AttachCountedChecked(record, expected, &previous);
        return previous;
    }

    /// <summary>The C API's single/swap: record_new, set_ids, add_attr, attach, record_free of the previous one.</summary>
    public static void SingleSwap(byte[] traceId, byte[] spanId, byte[] value)
    {
        fixed (byte* t = traceId)
        fixed (byte* s = spanId)
        fixed (byte* v = value)
        {
            var next = RecordNew();
            RecordSetIds(next, t, s, 1);
            RecordAddAttr(next, 0, v, (nuint)value.Length);
            RecordFree(Attach(next));
        }
    }

    /// <summary>The C calls the .NET single/swap makes: record_new_user, set_ids, add_attr, the counted and checked attach,
    /// record_dispose of the previous one.</summary>
    public static void SingleSwapCounted(byte[] traceId, byte[] spanId, byte[] value)
    {
        fixed (byte* t = traceId)
        fixed (byte* s = spanId)
        fixed (byte* v = value)
        {
            var next = RecordNewUser(1);
            RecordSetIds(next, t, s, 1);
            RecordAddAttr(next, 0, v, (nuint)value.Length);
            AttachCounted(next, 1);
            if (published != 0)
            {
                RecordDispose(published);
            }

            published = next;
        }
    }

    public static void EndCounted()
    {
        Clear();
        if (published != 0)
        {
            RecordDispose(published);
            published = 0;
        }
    }

    public static void SetIds(byte[] ids)
    {
        fixed (byte* p = ids)
        {
            Set(p, p + 16, 1, null, 0);
        }
    }
}
