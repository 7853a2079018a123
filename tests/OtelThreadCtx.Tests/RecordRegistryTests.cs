namespace OtelThreadCtx.Tests;

/// <summary>The table that turns a native record's binding value back into its ThreadContextRecord.</summary>
[Collection(NativeCollection.Name)]
public sealed class RecordRegistryTests
{
    [Fact]
    public void A_released_value_never_resolves_to_the_record_that_reuses_its_handle()
    {
        using var first = new ThreadContextRecord();
        using var second = new ThreadContextRecord();
        var a = RecordRegistry.Register(first);
        Assert.Same(first, RecordRegistry.Resolve(a));

        RecordRegistry.Release(a);
        Assert.Null(RecordRegistry.Resolve(a));

        var b = RecordRegistry.Register(second);
        Assert.Equal((ulong)a & 0xFFFF_FFFF_FFFF, (ulong)b & 0xFFFF_FFFF_FFFF); // the same handle, reused
        Assert.Same(second, RecordRegistry.Resolve(b));
        Assert.Null(RecordRegistry.Resolve(a));
        RecordRegistry.Release(b);
    }

    [Fact]
    public void Attach_returns_the_record_it_replaced_across_threads()
    {
        using var a = new ThreadContextRecord();
        using var b = new ThreadContextRecord();
        ThreadContextRecord? seen = null;
        var thread = new Thread(() =>
        {
            ThreadContext.Attach(a);
            seen = ThreadContext.Attach(b);
            ThreadContext.Detach();
        });
        thread.Start();
        thread.Join();

        Assert.Same(a, seen);
        Assert.Equal(0, a.AttachCount);
    }
}
