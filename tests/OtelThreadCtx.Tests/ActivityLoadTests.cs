using System.Diagnostics;
using Xunit.Abstractions;

namespace OtelThreadCtx.Tests;

/// <summary>The Activity publisher under load, read the way a profiler reads it, with memory checked afterwards.</summary>
[Collection(NativeCollection.Name)]
public sealed class ActivityLoadTests(ITestOutputHelper output)
{
    private static readonly int PerWorker = int.TryParse(Environment.GetEnvironmentVariable("OTC_LOAD_PER_WORKER"), out var n) ? n : 1_000_000;

    [ThreadStatic]
    private static bool registered;

    [Fact]
    public async Task Two_flows_of_a_million_activities_leave_no_native_or_finalizer_residue_and_readers_see_whole_records()
    {
        using var source = new ActivitySource("OtelThreadCtx.Tests.Load");
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == source.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        var route = ThreadContextKeys.Register("test.load.route");
        var options = new ActivityPublisherOptions();
        options.AttributeTagNames.Add(route.Name);

        // sampler.c's convention: trace id bytes all k, route value bytes all 'a' + k % 26.
        var parents = new ActivityContext[256];
        var tags = new KeyValuePair<string, object?>[256][];
        for (var k = 1; k <= 255; k++)
        {
            parents[k] = new ActivityContext(ActivityTraceId.CreateFromBytes(Enumerable.Repeat((byte)k, 16).ToArray()), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
            tags[k] = [new(route.Name, new string((char)('a' + (k % 26)), 8))];
        }

        using var sampler = Sampler.Install(route.Index, checkSpan: false);
        long nativeBefore;
        long managedBefore;
        using (var publisher = ActivityThreadContextPublisher.Start(options))
        {
            // First half: JIT, thread pool growth, every thread's own records, allocator caches. Then the baseline, and
            // the second half must not move it: anything kept per Activity would grow with the count.
            sampler.Timer(500);
            var watch = Stopwatch.StartNew();
            await Task.WhenAll(Task.Run(() => Worker(PerWorker / 2)), Task.Run(() => Worker(PerWorker / 2)));
            nativeBefore = NativeMemory.InUse();
            managedBefore = GC.GetTotalMemory(forceFullCollection: true);
            await Task.WhenAll(Task.Run(() => Worker(PerWorker / 2)), Task.Run(() => Worker(PerWorker / 2)));
            sampler.Timer(0);
            output.WriteLine($"{2 * PerWorker:N0} activities in {watch.Elapsed.TotalSeconds:0.0} s; entries made: {publisher.EntriesMade:N0}");
        }

        var nativeAfter = NativeMemory.InUse();
        var managedAfter = GC.GetTotalMemory(forceFullCollection: true);
        GC.Collect();
        var pendingFinalizers = GC.GetGCMemoryInfo().FinalizationPendingCount;
        var counts = sampler.Read();
        output.WriteLine($"samples: {counts}");
        output.WriteLine($"native in use {nativeBefore:N0} → {nativeAfter:N0} B; managed {managedBefore:N0} → {managedAfter:N0} B; finalizers pending after a GC: {pendingFinalizers}");

        Assert.Equal(0, counts.Torn);
        Assert.Equal(0, counts.Invalid);
        Assert.True(counts.Checked > 100, $"too few samples landed on publishing threads: {counts}");
        // Anything kept per Activity would be at least 4 bytes × 1,000,000 (the second half) = 4 MB.
        Assert.True(nativeAfter - nativeBefore < 2 * 1024 * 1024, $"native memory grew by {nativeAfter - nativeBefore:N0} B over the second million");
        Assert.True(managedAfter - managedBefore < 4 * 1024 * 1024, $"managed heap grew by {managedAfter - managedBefore:N0} B");
        Assert.True(pendingFinalizers < 100, $"{pendingFinalizers} objects were waiting for finalization: something per Activity is finalizable");

        async Task Worker(int count)
        {
            for (var i = 0; i < count; i++)
            {
                var k = 1 + (i % 255);
                using (source.StartActivity("load", ActivityKind.Server, parents[k], tags[k]))
                {
                    if (!registered)
                    {
                        registered = true;
                        sampler.RegisterThisThread();
                    }

                    await Task.Yield();
                }
            }
        }
    }
}
