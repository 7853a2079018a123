using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using BenchmarkDotNet.Attributes;

namespace OtelThreadCtx.Benchmarks;

// Every scenario has two rows: the public .NET API, and the same work through the C API called from C# directly
// (function pointers, SuppressGCTransition): the floor the .NET API is judged against. Both rows of a job run
// against the same library (OTEL_THREAD_CTX_NATIVE_LIBRARY), in the same process kind, in one BenchmarkDotNet run.
// The shared-record scenarios have a third row, "[C API counted]": the C calls the .NET API itself makes (the counted,
// checked attach and clear; record_new_user and record_dispose_checked), so that the table tells the wrapper's own cost apart
// from the counted attach's.

/// <summary>N prebuilt records attached round-robin on one thread: pointer swaps only.</summary>
[MemoryDiagnoser]
public class MultiSwapBenchmarks
{
    private ThreadContextRecord[] records = [];
    private nint[] handles = [];
    private int next;

    [Params(4, 16)]
    public int N { get; set; }

    [GlobalSetup]
    public unsafe void Setup()
    {
        CApi.EnsureLoaded();
        records = Enumerable.Range(0, N).Select(_ =>
        {
            var r = new ThreadContextRecord();
            r.SetIds(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
            return r;
        }).ToArray();
        handles = Enumerable.Range(0, N).Select(_ => CApi.RecordNew()).ToArray();
        counted = Enumerable.Range(0, N).Select(i => CApi.RecordNewUser((nuint)i + 1)).ToArray();
    }

    private nint[] counted = [];

    [Benchmark(Description = "multi/swap")]
    public ThreadContextRecord? multi_swap()
    {
        var i = next;
        next = i + 1 == records.Length ? 0 : i + 1;
        return ThreadContext.Attach(records[i]);
    }

    [Benchmark(Description = "multi/swap [C API]")]
    public unsafe nint multi_swap_c()
    {
        var i = next;
        next = i + 1 == handles.Length ? 0 : i + 1;
        return CApi.Attach(handles[i]);
    }

    [Benchmark(Description = "multi/swap [C API counted]")]
    public unsafe nuint multi_swap_counted()
    {
        var i = next;
        next = i + 1 == counted.Length ? 0 : i + 1;
        nuint previous;
        CApi.AttachCountedChecked(counted[i], (nuint)i + 1, &previous);
        return previous;
    }

    [GlobalCleanup]
    public unsafe void Cleanup()
    {
        ThreadContext.Detach();
        CApi.Clear();
    }
}

/// <summary>Attach one prebuilt record, then detach.</summary>
[MemoryDiagnoser]
public class AttachDetachBenchmarks
{
    private ThreadContextRecord record = null!;
    private nint handle;

    [GlobalSetup]
    public unsafe void Setup()
    {
        CApi.EnsureLoaded();
        record = new ThreadContextRecord();
        handle = CApi.RecordNew();
        counted = CApi.RecordNewUser(1);
    }

    private nint counted;

    [Benchmark(Description = "attach_detach")]
    public void attach_detach()
    {
        ThreadContext.Attach(record);
        ThreadContext.Detach();
    }

    [Benchmark(Description = "attach_detach [C API]")]
    public unsafe nint attach_detach_c()
    {
        CApi.Attach(handle);
        return CApi.Detach();
    }

    [Benchmark(Description = "attach_detach [C API counted]")]
    public unsafe nuint attach_detach_counted()
    {
        nuint previous;
        CApi.AttachCountedChecked(counted, 1, &previous);
        return CApi.Clear();
    }
}

/// <summary>A new record per switch, attached, the previous one released (the seed's single/swap): ids and one 16-byte
/// attribute, as the peer's constructor writes its local root span id. The .NET API builds a
/// <see cref="ThreadContextRecord"/>, attaches it (counted) and disposes the one it replaced; the C API row makes the same
/// record with plain calls and frees the previous one.</summary>
[MemoryDiagnoser]
public class SingleSwapBenchmarks
{
    private static readonly byte[] TraceId = Convert.FromHexString("0af7651916cd43dd8448eb211c80319c");
    private static readonly byte[] SpanId = Convert.FromHexString("b7ad6b7169203331");
    private static readonly byte[] RootSpanId = "b7ad6b7169203330"u8.ToArray();
    private ThreadContextKey key;

    [GlobalSetup]
    public void Setup()
    {
        CApi.EnsureLoaded();
        key = ThreadContextKeys.Register("local_root_span_id");
    }

    [Benchmark(Description = "single/swap")]
    public void single_swap()
    {
        var record = new ThreadContextRecord();
        record.SetIds(TraceId, SpanId, 1);
        record.AddAttribute(key, RootSpanId);
        ThreadContext.Attach(record)?.Dispose();
    }

    [Benchmark(Description = "single/swap [C API]")]
    public unsafe void single_swap_c()
    {
        fixed (byte* t = TraceId)
        fixed (byte* s = SpanId)
        fixed (byte* v = RootSpanId)
        {
            var record = CApi.RecordNew();
            CApi.RecordSetIds(record, t, s, 1);
            CApi.RecordAddAttr(record, 0, v, (nuint)RootSpanId.Length);
            CApi.RecordFree(CApi.Attach(record));
        }
    }

    /// <summary>The C calls the .NET row makes: a record carrying a user value, the counted and checked attach, one-call
    /// dispose of the record it replaced (the user value is the record's own address here: nothing maps it back).</summary>
    [Benchmark(Description = "single/swap [C API counted]")]
    public unsafe void single_swap_counted()
    {
        fixed (byte* t = TraceId)
        fixed (byte* s = SpanId)
        fixed (byte* v = RootSpanId)
        {
            var record = CApi.RecordNewUser(1);
            CApi.RecordSetIds(record, t, s, 1);
            CApi.RecordAddAttr(record, 0, v, (nuint)RootSpanId.Length);
            nuint previous;
            CApi.AttachCountedChecked(record, 1, &previous);
            if (published != 0)
            {
                CApi.RecordDispose(published, 1);
            }

            published = record;
        }
    }

    private nint published;

    [GlobalCleanup(Target = nameof(single_swap))]
    public void Cleanup() => ThreadContext.Detach()?.Dispose();

    [GlobalCleanup(Target = nameof(single_swap_counted))]
    public unsafe void CleanupCounted()
    {
        CApi.Clear();
        if (published != 0)
        {
            CApi.RecordDispose(published, 1);
            published = 0;
        }
    }

    [GlobalCleanup(Target = nameof(single_swap_c))]
    public unsafe void CleanupC() => CApi.RecordFree(CApi.Detach());
}

/// <summary>single/swap's .NET row taken apart (where the time goes): each step alone, on records built in setup where it
/// needs one. Not in the tables; run with --filter '*SingleSwapParts*'.</summary>
[MemoryDiagnoser]
public class SingleSwapPartsBenchmarks
{
    private static readonly byte[] TraceId = Convert.FromHexString("0af7651916cd43dd8448eb211c80319c");
    private static readonly byte[] SpanId = Convert.FromHexString("b7ad6b7169203331");
    private static readonly byte[] RootSpanId = "b7ad6b7169203330"u8.ToArray();
    private ThreadContextKey key;
    private ThreadContextRecord record = null!;

    [GlobalSetup]
    public void Setup()
    {
        CApi.EnsureLoaded();
        key = ThreadContextKeys.Register("local_root_span_id");
        record = new ThreadContextRecord();
    }

    [Benchmark(Description = "parts/new+dispose")]
    public void new_dispose() => new ThreadContextRecord().Dispose();

    [Benchmark(Description = "parts/set_ids")]
    public void set_ids() => record.SetIds(TraceId, SpanId, 1);

    [Benchmark(Description = "parts/add_attr")]
    public AttributeResult add_attr()
    {
        record.ClearAttributes();
        return record.AddAttribute(key, RootSpanId);
    }

    [Benchmark(Description = "parts/attach_same")]
    public ThreadContextRecord? attach_same() => ThreadContext.Attach(record);

    [Benchmark(Description = "parts/object")]
    public object plain_object() => new byte[16];

    [GlobalCleanup]
    public void Cleanup()
    {
        ThreadContext.Detach();
        record.Dispose();
    }
}

/// <summary>The peer (libdatadog's libdd-otel-thread-ctx-ffi, OTC_BENCH_PEER_LIBRARY, built by
/// /work/shared/peers/libdatadog-build.sh in the job's mode) doing single/swap through its C API from C#, called as
/// <see cref="CApi"/> calls ours: new(trace, span, root span id), attach, free the previous one.</summary>
[MemoryDiagnoser]
public class PeerSingleSwapBenchmarks
{
    private static readonly byte[] TraceId = Convert.FromHexString("0af7651916cd43dd8448eb211c80319c");
    private static readonly byte[] SpanId = Convert.FromHexString("b7ad6b7169203331");
    private static readonly byte[] RootSpanId = Convert.FromHexString("b7ad6b7169203330");

    [GlobalSetup]
    public void Setup() => PeerApi.EnsureLoaded();

    [Benchmark(Description = "single/swap [libdatadog]")]
    public unsafe void single_swap_peer()
    {
        fixed (byte* t = TraceId)
        fixed (byte* s = SpanId)
        fixed (byte* r = RootSpanId)
        {
            var previous = PeerApi.Attach(PeerApi.New(t, s, r));
            if (previous != 0)
            {
                PeerApi.Free(previous);
            }
        }
    }

    [GlobalCleanup]
    public unsafe void Cleanup()
    {
        var last = PeerApi.Detach();
        if (last != 0)
        {
            PeerApi.Free(last);
        }
    }
}

/// <summary>The peer's C API (never part of the repository: loaded from OTC_BENCH_PEER_LIBRARY when a run names it).</summary>
internal static unsafe class PeerApi
{
    public static readonly delegate* unmanaged[SuppressGCTransition]<byte*, byte*, byte*, nint> New;
    public static readonly delegate* unmanaged[SuppressGCTransition]<nint, nint> Attach;
    public static readonly delegate* unmanaged[SuppressGCTransition]<nint> Detach;
    public static readonly delegate* unmanaged[SuppressGCTransition]<nint, void> Free;

#pragma warning disable CA1810
    static PeerApi()
#pragma warning restore CA1810
    {
        if (CApi.LoadFrom("OTC_BENCH_PEER_LIBRARY") is not { } library)
        {
            return;
        }

        New = (delegate* unmanaged[SuppressGCTransition]<byte*, byte*, byte*, nint>)NativeLibrary.GetExport(library, "ddog_otel_thread_ctx_new");
        Attach = (delegate* unmanaged[SuppressGCTransition]<nint, nint>)NativeLibrary.GetExport(library, "ddog_otel_thread_ctx_attach");
        Detach = (delegate* unmanaged[SuppressGCTransition]<nint>)NativeLibrary.GetExport(library, "ddog_otel_thread_ctx_detach");
        Free = (delegate* unmanaged[SuppressGCTransition]<nint, void>)NativeLibrary.GetExport(library, "ddog_otel_thread_ctx_free");
    }

    public static void EnsureLoaded()
    {
        if (New == null)
        {
            throw new InvalidOperationException($"The peer did not load from OTC_BENCH_PEER_LIBRARY='{Environment.GetEnvironmentVariable("OTC_BENCH_PEER_LIBRARY")}'.");
        }
    }
}

/// <summary>New ids on every switch, from a rotating set of 16 contexts: the .NET API takes ActivityTraceId/ActivitySpanId
/// (hex strings inside), the C API the same ids already in binary.</summary>
[MemoryDiagnoser]
public class SetBenchmarks
{
    private static readonly byte[] Value = Encoding.UTF8.GetBytes("/orders/{id}/xyz");
    private ActivityContext[] contexts = [];
    private byte[][] traceIds = [];
    private byte[][] spanIds = [];
    private ThreadContextAttributes attributes = null!;
    private byte[] encodedAttributes = [];
    private int next;

    [GlobalSetup]
    public unsafe void Setup()
    {
        CApi.EnsureLoaded();
        contexts = Enumerable.Range(0, 16).Select(_ => new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded)).ToArray();
        traceIds = contexts.Select(c => { var b = new byte[16]; c.TraceId.CopyTo(b); return b; }).ToArray();
        spanIds = contexts.Select(c => { var b = new byte[8]; c.SpanId.CopyTo(b); return b; }).ToArray();
        var builder = new ThreadContextAttributesBuilder();
        builder.AddUtf8(ThreadContextKeys.Register("http.route"), Value);
        attributes = builder.Build();
        encodedAttributes = attributes.Encoded.ToArray();
    }

    private int Next()
    {
        var i = next;
        next = (i + 1) & 15;
        return i;
    }

    [Benchmark(Description = "set/ids")]
    public void set_ids()
    {
        ref readonly var c = ref contexts[Next()];
        ThreadContext.Set(c.TraceId, c.SpanId, c.TraceFlags);
    }

    [Benchmark(Description = "set/ids [C API]")]
    public unsafe int set_ids_c()
    {
        var i = Next();
        fixed (byte* t = traceIds[i])
        fixed (byte* s = spanIds[i])
        {
            return CApi.Set(t, s, 1, null, 0);
        }
    }

    [Benchmark(Description = "set/ids+attr")]
    public void set_ids_attr()
    {
        ref readonly var c = ref contexts[Next()];
        ThreadContext.Set(c.TraceId, c.SpanId, c.TraceFlags, attributes);
    }

    [Benchmark(Description = "set/ids+attr [C API]")]
    public unsafe int set_ids_attr_c()
    {
        var i = Next();
        fixed (byte* t = traceIds[i])
        fixed (byte* s = spanIds[i])
        fixed (byte* a = encodedAttributes)
        {
            return CApi.Set(t, s, 1, a, (nuint)encodedAttributes.Length);
        }
    }

    [GlobalCleanup]
    public void Cleanup() => ThreadContext.Clear();
}

/// <summary>Cost per Activity.Current change, and per child Activity started and stopped: nothing listening ("off"); the
/// floor of any publisher that follows ExecutionContext restores, an AsyncLocal with a change handler set from
/// CurrentChanged and doing nothing ("floor"); and the publisher ("publisher").</summary>
[MemoryDiagnoser]
public class ActivitySwitchBenchmarks
{
    private ActivitySource source = null!;
    private ActivityListener listener = null!;
    private Activity a = null!;
    private Activity b = null!;
    private ActivityThreadContextPublisher? publisher;
    private AsyncLocal<Activity?>? follower;

    [Params("off", "floor", "publisher")]
    public string Mode { get; set; } = "off";

    [GlobalSetup(Target = nameof(activity_switch))]
    public void Setup() => Init();

    /// <summary>Children start under a long-lived current Activity, as a request's do under the request.</summary>
    [GlobalSetup(Target = nameof(activity_start_stop))]
    public void SetupStartStop()
    {
        Init();
        Activity.Current = a;
    }

    private void Init()
    {
        CApi.EnsureLoaded();
        source = new ActivitySource("bench");
        listener = new ActivityListener { ShouldListenTo = _ => true, Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded };
        ActivitySource.AddActivityListener(listener);
        if (Mode == "publisher")
        {
            var options = new ActivityPublisherOptions();
            options.AttributeTagNames.Add("http.route");
            publisher = ActivityThreadContextPublisher.Start(options);
        }
        else if (Mode == "floor")
        {
            follower = new AsyncLocal<Activity?>(_ => { });
            Activity.CurrentChanged += Follow;
        }

        a = source.StartActivity("a", ActivityKind.Server, default(ActivityContext), [new("http.route", "/orders/{id}")])!;
        b = source.StartActivity("b")!;
        Activity.Current = null;
    }

    private void Follow(object? sender, ActivityChangedEventArgs e) => follower!.Value = e.Current;

    [Benchmark(Description = "activity/switch", OperationsPerInvoke = 2)]
    public void activity_switch()
    {
        Activity.Current = a;
        Activity.Current = b;
    }

    /// <summary>A new Activity, child of the current one, started and stopped: the publisher makes its entry (binary ids,
    /// attributes) at the start and switches back to the parent's at the stop.</summary>
    [Benchmark(Description = "activity/start_stop")]
    public void activity_start_stop()
    {
        using var child = source.StartActivity("child");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Activity.Current = null;
        Activity.CurrentChanged -= Follow;
        publisher?.Dispose();
        listener.Dispose();
        source.Dispose();
    }
}

/// <summary>The C API of the library the job names, called from C# the cheapest way: function pointers with
/// SuppressGCTransition. A benchmark that ran without the library would time a no-op: refuse instead.</summary>
internal static unsafe class CApi
{
    public static readonly delegate* unmanaged[SuppressGCTransition]<nint, nint> Attach;
    public static readonly delegate* unmanaged[SuppressGCTransition]<nint> Detach;
    public static readonly delegate* unmanaged[SuppressGCTransition]<byte*, byte*, byte, byte*, nuint, int> Set;
    public static readonly delegate* unmanaged[SuppressGCTransition]<nint> RecordNew;
    public static readonly delegate* unmanaged[SuppressGCTransition]<nint, byte*, byte*, byte, void> RecordSetIds;
    public static readonly delegate* unmanaged[SuppressGCTransition]<nint, byte, byte*, nuint, int> RecordAddAttr;
    public static readonly delegate* unmanaged[SuppressGCTransition]<nint, void> RecordFree;
    public static readonly delegate* unmanaged[SuppressGCTransition]<nuint, nint> RecordNewUser;
    public static readonly delegate* unmanaged[SuppressGCTransition]<nint, nuint, nuint*, int> AttachCountedChecked;
    public static readonly delegate* unmanaged[SuppressGCTransition]<nuint> Clear;
    public static readonly delegate* unmanaged[SuppressGCTransition]<nint, nuint, int> RecordDispose;

#pragma warning disable CA1810
    static CApi()
#pragma warning restore CA1810
    {
        if (LoadFrom("OTEL_THREAD_CTX_NATIVE_LIBRARY") is not { } library)
        {
            return;
        }

        Attach = (delegate* unmanaged[SuppressGCTransition]<nint, nint>)NativeLibrary.GetExport(library, "otel_thread_ctx_attach");
        Detach = (delegate* unmanaged[SuppressGCTransition]<nint>)NativeLibrary.GetExport(library, "otel_thread_ctx_detach");
        Set = (delegate* unmanaged[SuppressGCTransition]<byte*, byte*, byte, byte*, nuint, int>)NativeLibrary.GetExport(library, "otel_thread_ctx_set");
        RecordNew = (delegate* unmanaged[SuppressGCTransition]<nint>)NativeLibrary.GetExport(library, "otel_thread_ctx_record_new");
        RecordSetIds = (delegate* unmanaged[SuppressGCTransition]<nint, byte*, byte*, byte, void>)NativeLibrary.GetExport(library, "otel_thread_ctx_record_set_ids");
        RecordAddAttr = (delegate* unmanaged[SuppressGCTransition]<nint, byte, byte*, nuint, int>)NativeLibrary.GetExport(library, "otel_thread_ctx_record_add_attr");
        RecordFree = (delegate* unmanaged[SuppressGCTransition]<nint, void>)NativeLibrary.GetExport(library, "otel_thread_ctx_record_free");
        RecordNewUser = (delegate* unmanaged[SuppressGCTransition]<nuint, nint>)NativeLibrary.GetExport(library, "otel_thread_ctx_record_new_user");
        AttachCountedChecked = (delegate* unmanaged[SuppressGCTransition]<nint, nuint, nuint*, int>)NativeLibrary.GetExport(library, "otel_thread_ctx_attach_counted_checked");
        Clear = (delegate* unmanaged[SuppressGCTransition]<nuint>)NativeLibrary.GetExport(library, "otel_thread_ctx_clear");
        RecordDispose = (delegate* unmanaged[SuppressGCTransition]<nint, nuint, int>)NativeLibrary.GetExport(library, "otel_thread_ctx_record_dispose_checked");
    }

    /// <summary>The library named by an environment variable (a job's), or null when unset or unloadable.</summary>
    internal static nint? LoadFrom(string variable) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } path && NativeLibrary.TryLoad(path, out var library) ? library : null;

    public static void EnsureLoaded()
    {
        if (!ThreadContext.IsSupported || Attach == null)
        {
            throw new InvalidOperationException(
                $"libotel_thread_ctx.so did not load from OTEL_THREAD_CTX_NATIVE_LIBRARY='{Environment.GetEnvironmentVariable("OTEL_THREAD_CTX_NATIVE_LIBRARY")}'.");
        }
    }
}

/// <summary>The Rust FFI layer (samples/RustLayer, built by the SDK in the job's mode), called from C# exactly as the
/// C API rows call the C layer: prebuilt records swapped, attach + detach. Only when eng/benchmark.sh built it.</summary>
[MemoryDiagnoser]
public class RustLayerBenchmarks
{
    private nint[] handles = [];
    private int next;

    [Params(4, 16)]
    public int N { get; set; }

    [GlobalSetup]
    public unsafe void Setup()
    {
        RustApi.EnsureLoaded();
        handles = Enumerable.Range(0, N).Select(_ => RustApi.RecordNew()).ToArray();
    }

    [Benchmark(Description = "multi/swap [Rust layer]")]
    public unsafe nint multi_swap_rust()
    {
        var i = next;
        next = i + 1 == handles.Length ? 0 : i + 1;
        return RustApi.Attach(handles[i]);
    }

    [GlobalCleanup]
    public unsafe void Cleanup() => RustApi.Detach();
}

/// <summary>The Rust layer: attach one prebuilt record, then detach (as <see cref="AttachDetachBenchmarks"/>' C API row).</summary>
[MemoryDiagnoser]
public class RustLayerAttachDetachBenchmarks
{
    private nint handle;

    [GlobalSetup]
    public unsafe void Setup()
    {
        RustApi.EnsureLoaded();
        handle = RustApi.RecordNew();
    }

    [Benchmark(Description = "attach_detach [Rust layer]")]
    public unsafe nint attach_detach_rust()
    {
        RustApi.Attach(handle);
        return RustApi.Detach();
    }
}

/// <summary>The Rust layer's record C ABI from the library the job names (OTC_BENCH_RUST_LIBRARY), called like <see cref="CApi"/>.</summary>
internal static unsafe class RustApi
{
    public static readonly delegate* unmanaged[SuppressGCTransition]<nint, nint> Attach;
    public static readonly delegate* unmanaged[SuppressGCTransition]<nint> Detach;
    public static readonly delegate* unmanaged<nint> RecordNew;

#pragma warning disable CA1810
    static RustApi()
#pragma warning restore CA1810
    {
        if (CApi.LoadFrom("OTC_BENCH_RUST_LIBRARY") is not { } library)
        {
            return;
        }

        Attach = (delegate* unmanaged[SuppressGCTransition]<nint, nint>)NativeLibrary.GetExport(library, "otel_thread_ctx_attach");
        Detach = (delegate* unmanaged[SuppressGCTransition]<nint>)NativeLibrary.GetExport(library, "otel_thread_ctx_detach");
        RecordNew = (delegate* unmanaged<nint>)NativeLibrary.GetExport(library, "otel_thread_ctx_record_new");
    }

    public static void EnsureLoaded()
    {
        if (Attach == null)
        {
            throw new InvalidOperationException($"The Rust layer did not load from OTC_BENCH_RUST_LIBRARY='{Environment.GetEnvironmentVariable("OTC_BENCH_RUST_LIBRARY")}'.");
        }
    }
}
