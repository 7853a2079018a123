using System.Diagnostics;
using Xunit.Abstractions;

namespace OtelThreadCtx.Tests;

/// <summary>Native memory stays flat while many threads attach records and exit.</summary>
[Collection(NativeCollection.Name)]
public sealed class LifetimeTests(ITestOutputHelper output)
{
    [Fact]
    public void Hundred_thousand_threads_that_attach_and_exit_leave_no_native_growth()
    {
        const int total = 100_000;
        const int batch = 1_000;
        RunThreads(batch); // warm up the runtime's own per-thread allocations
        var before = NativeMemory.InUse();

        for (var done = 0; done < total; done += batch)
        {
            RunThreads(batch);
        }

        var after = NativeMemory.InUse();
        var growth = after - before;
        output.WriteLine($"native in use: before {before:N0} B, after {after:N0} B, growth {growth:N0} B over {total:N0} threads (a leaked record each would be {total * 640L:N0} B, a leaked pair each {total * 1344L:N0} B)");
        // One leaked 640-byte record per thread would be 64 MB; allow 2 MB for allocator and runtime noise.
        Assert.True(growth < 2 * 1024 * 1024, $"native memory grew by {growth:N0} bytes");
    }

    private static void RunThreads(int count)
    {
        var threads = new Thread[count];
        for (var i = 0; i < count; i++)
        {
            threads[i] = new Thread(() =>
            {
                // The thread's own pair of records (freed by the library when the thread exits)...
                ThreadContext.Set(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
                // ...and a shared record, still attached when the thread exits: the thread's state releases it.
                var record = new ThreadContextRecord();
                ThreadContext.Attach(record);
            }, maxStackSize: 256 * 1024);
            threads[i].Start();
        }

        foreach (var thread in threads)
        {
            thread.Join();
        }
    }
}
