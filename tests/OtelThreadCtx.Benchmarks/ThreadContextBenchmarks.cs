using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using BenchmarkDotNet.Attributes;

namespace OtelThreadCtx.Benchmarks;

// Every scenario has two rows: the public .NET API, and the same work through the C API called from C# directly
// (function pointers, SuppressGCTransition): the floor the .NET API is judged against. Both rows of a job run
// against the same library (OTEL_THREAD_CTX_NATIVE_LIBRARY), in the same process kind, in one BenchmarkDotNet run.

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
    }

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

    [GlobalCleanup]
    public void Cleanup() => ThreadContext.Detach();
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
    }

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

/// <summary>Cost per Activity.Current change: nothing listening ("off"); the floor of any publisher that follows
/// ExecutionContext restores, an AsyncLocal with a change handler set from CurrentChanged and doing nothing ("floor");
/// and the publisher ("publisher").</summary>
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

    [GlobalSetup]
    public void Setup()
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
    public static readonly delegate* unmanaged<nint> RecordNew;

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
        RecordNew = (delegate* unmanaged<nint>)NativeLibrary.GetExport(library, "otel_thread_ctx_record_new");
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
