using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using OtelThreadCtx;

// Usage: OtelThreadCtx.AotBenchmarks <build label> [--short] [--only <scenario prefix>]: one markdown row per row of each
// scenario, "| scenario | build | ns/op | B/op | .NET / this row |". --only runs the rows whose name starts with the prefix
// (to profile one; a trailing '$' asks for that name exactly). The same program runs under the JIT (dotnet OtelThreadCtx.AotBenchmarks.dll, the library
// beside it) and published NativeAOT with the library linked in, so the rows compare the two on the same scenarios.
// A scenario's rows (the .NET API first, then the C API doing the same) run interleaved: after a warm-up of each, 7
// rounds, each round running every row once for a fixed number of operations (the row's cleanup after each). ns/op is
// the row's median round; ".NET / this row" is the median over the rounds of the .NET row's time divided by this row's
// in the same round, so that a change in the machine's speed between rounds (shared hosts) cancels out of the ratio.
var label = args.Length > 0 ? args[0] : "unnamed";
var iterations = args.Contains("--short") ? 200_000 : 20_000_000;
var only = Array.IndexOf(args, "--only") is var at and >= 0 && at + 1 < args.Length ? args[at + 1] : "";
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
Sink? sink = null;

Scenario(
    ("set/ids", n =>
    {
        for (var i = 0; i < n; i++)
        {
            ref readonly var c = ref contexts[i & 15];
            ThreadContext.Set(c.TraceId, c.SpanId, c.TraceFlags);
        }
    }, ThreadContext.Clear),
    ("set/ids [C API]", n =>
    {
        for (var i = 0; i < n; i++)
        {
            CApi.SetIds(ids[i & 15]);
        }
    }, ThreadContext.Clear));
Scenario(
    ("attach_detach", n =>
    {
        for (var i = 0; i < n; i++)
        {
            ThreadContext.Attach(record);
            ThreadContext.Detach();
        }
    }, Nothing),
    ("attach_detach [C API]", n =>
    {
        for (var i = 0; i < n; i++)
        {
            CApi.Attach(handle);
            CApi.Detach();
        }
    }, Nothing),
    ("attach_detach [C API counted]", n =>
    {
        for (var i = 0; i < n; i++)
        {
            CApi.AttachCounted(counted[0], 1);
            CApi.Clear();
        }
    }, Nothing));
Scenario(
    ("multi/swap/4", n =>
    {
        for (var i = 0; i < n; i++)
        {
            ThreadContext.Attach(records[i & 3]);
        }
    }, () => ThreadContext.Detach()),
    ("multi/swap/4 [C API]", n =>
    {
        for (var i = 0; i < n; i++)
        {
            CApi.Attach(handles[i & 3]);
        }
    }, () => CApi.Detach()),
    ("multi/swap/4 [C API counted]", n =>
    {
        for (var i = 0; i < n; i++)
        {
            CApi.AttachCounted(counted[i & 3], (nuint)(i & 3) + 1);
        }
    }, () => CApi.Clear()));
// single/swap (issue 23): a new record per switch, ids and one 16-byte attribute, attached, the previous one released.
Scenario(
    ("single/swap", n =>
    {
        for (var i = 0; i < n; i++)
        {
            var next = new ThreadContextRecord();
            next.SetIds(traceId, spanId, 1);
            next.AddAttribute(key, rootSpanId);
            ThreadContext.Attach(next)?.Dispose();
        }
    }, () => ThreadContext.Detach()?.Dispose()),
    ("single/swap [C API]", n =>
    {
        for (var i = 0; i < n; i++)
        {
            CApi.SingleSwap(traceId, spanId, rootSpanId);
        }
    }, () => CApi.RecordFree(CApi.Detach())),
    ("single/swap [C API counted]", n =>
    {
        for (var i = 0; i < n; i++)
        {
            CApi.SingleSwapCounted(traceId, spanId, rootSpanId);
        }
    }, CApi.EndCounted),
    // Where the .NET row's time goes beyond the C calls: the same counted calls plus a managed object of the record's size
    // (32 bytes, kept until the next swap as the registry keeps the record), and that object alone.
    ("single/swap [C API counted + object]", n =>
    {
        for (var i = 0; i < n; i++)
        {
            sink = new Sink();
            CApi.SingleSwapCounted(traceId, spanId, rootSpanId);
        }
    }, CApi.EndCounted),
    ("single/swap [object]", n =>
    {
        for (var i = 0; i < n; i++)
        {
            sink = new Sink();
        }
    }, Nothing));
GC.KeepAlive(sink);
return 0;

static void Nothing()
{
}

void Scenario(params (string Name, Action<int> Body, Action After)[] rows)
{
    rows = Array.FindAll(rows, row => only.EndsWith('$') ? row.Name == only[..^1] : row.Name.StartsWith(only, StringComparison.Ordinal));
    if (rows.Length == 0)
    {
        return;
    }

    foreach (var row in rows)
    {
        row.Body(iterations / 10);
        row.After();
    }

    const int Rounds = 7;
    var times = new double[rows.Length, Rounds];
    var allocated = new long[rows.Length];
    for (var r = 0; r < Rounds; r++)
    {
        for (var k = 0; k < rows.Length; k++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            var watch = Stopwatch.StartNew();
            rows[k].Body(iterations);
            watch.Stop();
            allocated[k] = Math.Max(allocated[k], GC.GetAllocatedBytesForCurrentThread() - before);
            times[k, r] = watch.Elapsed.TotalNanoseconds / iterations;
            rows[k].After();
        }
    }

    for (var k = 0; k < rows.Length; k++)
    {
        var own = Median(Enumerable.Range(0, Rounds).Select(r => times[k, r]));
        var ratio = k == 0 ? "—" : Median(Enumerable.Range(0, Rounds).Select(r => times[0, r] / times[k, r])).ToString("0.00", CultureInfo.InvariantCulture);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {rows[k].Name} | {label} | {own:0.00} | {allocated[k] / (double)iterations:0} | {ratio} |"));
    }
}

static double Median(IEnumerable<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted[sorted.Length / 2];
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

    [LibraryImport("otel_thread_ctx", EntryPoint = "otel_thread_ctx_record_dispose_checked")]
    [SuppressGCTransition]
    private static partial int RecordDispose(nint record, nuint user);

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
                RecordDispose(published, 1);
            }

            published = next;
        }
    }

    public static void EndCounted()
    {
        Clear();
        if (published != 0)
        {
            RecordDispose(published, 1);
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

/// <summary>An object the size of a <see cref="ThreadContextRecord"/> (header, method table, two words: 32 bytes).</summary>
internal sealed class Sink
{
    public nint Handle = 1; // written by the constructor, as the record's handle and value are
    public nuint User = 1;
}
