namespace OtelThreadCtx.Tests;

/// <summary>Two threads disposing one record at the same time (found by an independent review of the registry).</summary>
[Collection(NativeCollection.Name)]
public sealed class ConcurrentDisposeTests
{
    /// <summary>Each round, two threads dispose one record at once; then this thread makes the next record (most often in
    /// the block just given back), publishes, reads, detaches and disposes it. When the registry decided with a load and
    /// plain stores, both Disposes could pass, and the later one cleared the next record's slot (its Dispose then did
    /// nothing and its block was never freed) or disposed its native block (its attach refused): 7 to 23 such rounds in
    /// 200,000. Now the library decides (a Dispose checked against the record's value) and only the winner releases the
    /// slot.</summary>
    [Fact]
    public void A_record_disposed_on_two_threads_at_once_is_freed_once_and_the_next_record_in_its_block_is_intact()
    {
        Assert.True(ThreadContext.IsSupported, ThreadContext.UnavailableReason);
        const int Rounds = 100_000;
        ThreadContextRecord? shared = null;
        using var go = new Barrier(2);
        var other = new Thread(() =>
        {
            for (var i = 0; i < Rounds; i++)
            {
                go.SignalAndWait();
                shared!.Dispose();
                go.SignalAndWait();
            }
        });
        other.Start();

        int refusedAttaches = 0, unresolved = 0, notFreed = 0, blockReused = 0;
        for (var i = 0; i < Rounds; i++)
        {
            shared = new ThreadContextRecord();
            var block = shared.Handle;
            go.SignalAndWait();
            shared.Dispose();

            var next = new ThreadContextRecord();
            blockReused += next.Handle == block ? 1 : 0;
            try
            {
                ThreadContext.Attach(next);
                unresolved += ReferenceEquals(ThreadContext.Current, next) ? 0 : 1;
            }
            catch (ObjectDisposedException)
            {
                refusedAttaches++;
            }

            ThreadContext.Detach();
            next.Dispose();
            notFreed += next.IsDisposed ? 0 : 1;
            go.SignalAndWait();
            Assert.True(shared.IsDisposed);
        }

        other.Join();
        Assert.True(refusedAttaches + unresolved + notFreed == 0,
            $"next records refused {refusedAttaches}, not found {unresolved}, not freed {notFreed} (block reused in {blockReused} rounds)");
        Assert.True(blockReused > Rounds / 2, $"the next record took the disposed block in {blockReused} of {Rounds} rounds");
    }
}
