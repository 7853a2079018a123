using System.Diagnostics;
using System.Text;
using BenchmarkDotNet.Attributes;

namespace OtelThreadCtx.Benchmarks;

/// <summary>The Rust implementation's scenarios plus attach/detach, from C#.</summary>
public class ThreadContextBenchmarks
{
    private static readonly byte[] Value = Encoding.UTF8.GetBytes("/orders/{id}/xyz");
    private readonly ActivityTraceId traceId = ActivityTraceId.CreateFromString("0af7651916cd43dd8448eb211c80319c");
    private readonly ActivitySpanId spanId = ActivitySpanId.CreateFromString("b7ad6b7169203331");
    private ThreadContextKey key;
    private ThreadContextRecord inPlace = null!;
    private ThreadContextRecord attachDetach = null!;

    [GlobalSetup]
    public void Setup()
    {
        Native.EnsureLoaded();
        key = ThreadContextKeys.Register("http.route");
        inPlace = new ThreadContextRecord();
        attachDetach = new ThreadContextRecord();
        // BenchmarkDotNet runs setup and benchmark on one thread, one process per case.
        ThreadContext.Attach(inPlace);
    }

    /// <summary>One attached record rewritten in place: ids, flags, one 16-byte attribute, inside the valid bracket.</summary>
    [Benchmark(Description = "single/in_place")]
    public void single_in_place()
    {
        using var update = ThreadContext.BeginUpdate();
        var record = update.Record!;
        record.SetIds(traceId, spanId, ActivityTraceFlags.Recorded);
        record.ClearAttributes();
        record.AddAttribute(key, Value);
    }

    /// <summary>A new record (ids, flags, one attribute) attached, the previous one released: the allocating path.</summary>
    [Benchmark(Description = "single/swap")]
    public void single_swap()
    {
        var record = new ThreadContextRecord();
        record.SetIds(traceId, spanId, ActivityTraceFlags.Recorded);
        record.AddAttribute(key, Value);
        ThreadContext.Attach(record)?.Dispose();
    }

    [Benchmark(Description = "attach_detach")]
    public void attach_detach()
    {
        ThreadContext.Attach(attachDetach);
        ThreadContext.Detach();
    }

    private int counterA;
    private int counterB;

    /// <summary>What the ownership rule costs: the compare-and-swap that counts the new record's attach and the
    /// decrement that releases the previous one, without anything else. Not a scenario: a bound.</summary>
    [Benchmark(Description = "bound/two_atomics")]
    public int bound_two_atomics()
    {
        var seen = Interlocked.CompareExchange(ref counterA, counterA + 1, counterA);
        return seen + Interlocked.Decrement(ref counterB);
    }

    [GlobalCleanup]
    public void Cleanup() => ThreadContext.Detach()?.Dispose();
}

/// <summary>N prebuilt records attached round-robin on one thread: pointer swaps only.</summary>
public class MultiSwapBenchmarks
{
    private ThreadContextRecord[] records = [];
    private int next;

    [Params(4, 16)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Native.EnsureLoaded();
        records = Enumerable.Range(0, N).Select(_ =>
        {
            var r = new ThreadContextRecord();
            r.SetIds(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
            return r;
        }).ToArray();
    }

    [Benchmark(Description = "multi/swap")]
    public ThreadContextRecord? multi_swap()
    {
        var i = next;
        next = i + 1 == records.Length ? 0 : i + 1;
        return ThreadContext.Attach(records[i]);
    }

    [GlobalCleanup]
    public void Cleanup() => ThreadContext.Detach();
}

/// <summary>Cost per Activity.Current change with the automatic publisher off and on.</summary>
public class ActivitySwitchBenchmarks
{
    private ActivitySource source = null!;
    private ActivityListener listener = null!;
    private Activity a = null!;
    private Activity b = null!;
    private ActivityThreadContextPublisher? publisher;

    [Params(false, true)]
    public bool Publisher { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Native.EnsureLoaded();
        source = new ActivitySource("bench");
        listener = new ActivityListener { ShouldListenTo = _ => true, Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded };
        ActivitySource.AddActivityListener(listener);
        if (Publisher)
        {
            publisher = ActivityThreadContextPublisher.Start();
        }

        a = source.StartActivity("a")!;
        b = source.StartActivity("b")!;
        Activity.Current = null;
    }

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
        publisher?.Dispose();
        listener.Dispose();
        source.Dispose();
    }
}

/// <summary>A benchmark that ran without the native library would time a no-op: refuse instead.</summary>
internal static class Native
{
    public static void EnsureLoaded()
    {
        if (!ThreadContext.IsSupported)
        {
            throw new InvalidOperationException(
                $"libotel_thread_ctx.so did not load from OTEL_THREAD_CTX_NATIVE_LIBRARY='{Environment.GetEnvironmentVariable("OTEL_THREAD_CTX_NATIVE_LIBRARY")}'.");
        }
    }
}
