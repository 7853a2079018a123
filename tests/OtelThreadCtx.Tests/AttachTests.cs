using System.Diagnostics;

namespace OtelThreadCtx.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class NativeCollection
{
    public const string Name = "native library";
}

[Collection(NativeCollection.Name)]
public sealed class AttachTests : IDisposable
{
    public void Dispose() => ThreadContext.Detach();

    [Fact]
    public void Attach_returns_the_previous_record_and_detach_clears()
    {
        var first = new ThreadContextRecord();
        var second = new ThreadContextRecord();

        Assert.Null(ThreadContext.Attach(first));
        Assert.Same(first, ThreadContext.Attach(second));
        Assert.Same(second, ThreadContext.Current);
        Assert.Same(second, ThreadContext.Detach());
        Assert.Null(ThreadContext.Current);
        Assert.Equal(0, ThreadContext.ReadCurrent(new byte[640]));
        first.Dispose();
        second.Dispose();
    }

    [Fact]
    public void An_attached_record_cannot_be_disposed_and_disposing_twice_is_harmless()
    {
        var record = new ThreadContextRecord();
        ThreadContext.Attach(record);

        var refused = Assert.Throws<InvalidOperationException>(record.Dispose);
        Assert.Contains("Detach", refused.Message, StringComparison.Ordinal);

        ThreadContext.Detach();
        record.Dispose();
        record.Dispose();
        Assert.Throws<ObjectDisposedException>(() => ThreadContext.Attach(record));
    }

    [Fact]
    public void Each_thread_sees_only_its_own_record()
    {
        const int threads = 8;
        var records = Enumerable.Range(0, threads).Select(_ => new ThreadContextRecord()).ToArray();
        var spanIds = new string[threads];
        var seen = new string?[threads];
        using var barrier = new Barrier(threads);

        var workers = Enumerable.Range(0, threads).Select(i => new Thread(() =>
        {
            var span = ActivitySpanId.CreateRandom();
            spanIds[i] = span.ToHexString();
            records[i].SetIds(ActivityTraceId.CreateRandom(), span, ActivityTraceFlags.Recorded);
            ThreadContext.Attach(records[i]);
            barrier.SignalAndWait();
            var buffer = new byte[640];
            var length = ThreadContext.ReadCurrent(buffer);
            seen[i] = length >= 24 ? Convert.ToHexStringLower(buffer, 16, 8) : null;
            barrier.SignalAndWait();
            ThreadContext.Detach();
        })).ToList();
        workers.ForEach(t => t.Start());
        workers.ForEach(t => t.Join());

        Assert.Equal(spanIds, seen);
        Assert.All(records, r => Assert.Equal(0, r.AttachCount));
        Array.ForEach(records, r => r.Dispose());
    }

    [Fact]
    public void A_thread_that_exits_with_a_record_attached_releases_it()
    {
        var record = new ThreadContextRecord();
        var thread = new Thread(() => ThreadContext.Attach(record));
        thread.Start();
        thread.Join();

        // The library releases it from the exiting thread itself (pthread key destructor), no GC involved; Join can
        // return just before the OS thread has finished exiting.
        for (var i = 0; i < 500 && record.AttachCount != 0; i++)
        {
            Thread.Sleep(10);
        }

        Assert.Equal(0, record.AttachCount);
        record.Dispose();
    }

    [Fact]
    public void Keys_are_append_only_and_stable()
    {
        var a = ThreadContextKeys.Register("test.key.a");
        var b = ThreadContextKeys.Register("test.key.b");

        Assert.Equal(a, ThreadContextKeys.Register("test.key.a"));
        Assert.Equal(a.Index + 1, b.Index);
        Assert.Equal("test.key.a", ThreadContextKeys.Names[a.Index]);
        Assert.True(ThreadContextKeys.TryGet("test.key.b", out var found));
        Assert.Equal(b, found);
    }
}
