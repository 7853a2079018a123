using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace OtelThreadCtx.Tests;

/// <summary>The thread-owned fast path: <see cref="ThreadContext.Set(ActivityTraceId, ActivitySpanId, ActivityTraceFlags, ThreadContextAttributes?)"/>
/// and <see cref="ThreadContext.Clear"/>, checked in the bytes a reader sees.</summary>
[Collection(NativeCollection.Name)]
public sealed unsafe class SetTests : IDisposable
{
    private static readonly delegate* unmanaged<nint> CurrentRecord = (delegate* unmanaged<nint>)NativeLibrary.GetExport(
        NativeLibrary.Load(TestLibrary.Path), "otel_thread_ctx_current");

    public SetTests() => Assert.True(ThreadContext.IsSupported, "libotel_thread_ctx.so must load on Linux x64/arm64");

    public void Dispose() => ThreadContext.Clear();

    private static byte[] Published()
    {
        var buffer = new byte[ThreadContextRecord.Size];
        return buffer[..ThreadContext.ReadCurrent(buffer)];
    }

    [Fact]
    public void Set_writes_ids_flags_and_attributes_where_a_reader_looks_for_them()
    {
        var route = ThreadContextKeys.Register("http.route");
        var method = ThreadContextKeys.Register("http.request.method");
        var builder = new ThreadContextAttributesBuilder();
        Assert.Equal(AttributeResult.Written, builder.Add(route, "/orders/{id}"));
        Assert.Equal(AttributeResult.Written, builder.Add(method, "GET"));
        var attributes = builder.Build();

        Span<byte> expectedTrace = stackalloc byte[16];
        Span<byte> expectedSpan = stackalloc byte[8];
        for (var i = 0; i < 5_000; i++)
        {
            var traceId = ActivityTraceId.CreateRandom();
            var spanId = ActivitySpanId.CreateRandom();
            var flags = (ActivityTraceFlags)(i & 1);
            ThreadContext.Set(traceId, spanId, flags, i % 3 == 0 ? null : attributes);

            var bytes = Published();
            traceId.CopyTo(expectedTrace);
            spanId.CopyTo(expectedSpan);
            Assert.True(expectedTrace.SequenceEqual(bytes.AsSpan(0, 16)), $"trace id {traceId}: published {Convert.ToHexStringLower(bytes, 0, 16)}");
            Assert.True(expectedSpan.SequenceEqual(bytes.AsSpan(16, 8)), $"span id {spanId}: published {Convert.ToHexStringLower(bytes, 16, 8)}");
            Assert.Equal(1, bytes[24]);
            Assert.Equal((byte)flags, bytes[25]);
            var size = BitConverter.ToUInt16(bytes, 26);
            if (i % 3 == 0)
            {
                Assert.Equal(0, size);
            }
            else
            {
                Assert.Equal(attributes.Encoded.ToArray(), bytes[28..(28 + size)]);
                Assert.Equal([route.Index, 12, .. "/orders/{id}"u8, method.Index, 3, .. "GET"u8], bytes[28..]);
            }
        }
    }

    [Fact]
    public void The_overloads_publish_the_same_bytes()
    {
        var context = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
        ThreadContext.Set(context.TraceId, context.SpanId, context.TraceFlags);
        var fromIds = Published();

        ThreadContext.Clear();
        ThreadContext.Set(in context);
        Assert.Equal(fromIds, Published());

        var trace = new byte[16];
        var span = new byte[8];
        context.TraceId.CopyTo(trace);
        context.SpanId.CopyTo(span);
        ThreadContext.Clear();
        ThreadContext.Set(trace, span, 1);
        Assert.Equal(fromIds, Published());

        Assert.Throws<ArgumentException>(() => ThreadContext.Set(trace.AsSpan(1), span, 1));
    }

    [Fact]
    public void Set_alternates_two_records_and_never_writes_the_published_one()
    {
        ThreadContext.Set(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.None);
        var first = CurrentRecord();
        var firstBytes = new ReadOnlySpan<byte>((void*)first, 28).ToArray();

        ThreadContext.Set(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
        var second = CurrentRecord();
        Assert.NotEqual(first, second);
        // The record that was published before is left as it was until it is the unpublished one again.
        Assert.Equal(firstBytes, new ReadOnlySpan<byte>((void*)first, 28).ToArray());

        ThreadContext.Set(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.None);
        Assert.Equal(first, CurrentRecord());
        Assert.Equal(1, ((byte*)second)[24]);
    }

    [Fact]
    public void Each_thread_has_its_own_records()
    {
        ThreadContext.Set(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.None);
        var mine = CurrentRecord();
        nint other = 0;
        string? otherSpan = null;
        var spanId = ActivitySpanId.CreateRandom();
        var thread = new Thread(() =>
        {
            ThreadContext.Set(ActivityTraceId.CreateRandom(), spanId, ActivityTraceFlags.None);
            other = CurrentRecord();
            otherSpan = Convert.ToHexStringLower(Published(), 16, 8);
        });
        thread.Start();
        thread.Join();

        Assert.NotEqual(mine, other);
        Assert.Equal(spanId.ToHexString(), otherSpan);
        Assert.Equal(mine, CurrentRecord());
    }

    [Fact]
    public void Set_replaces_an_attached_record_and_releases_it_and_clear_publishes_nothing()
    {
        var record = new ThreadContextRecord();
        ThreadContext.Attach(record);
        Assert.Equal(1, record.AttachCount);

        ThreadContext.Set(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.None);
        Assert.Equal(0, record.AttachCount);
        Assert.Null(ThreadContext.Current);
        record.Dispose();

        ThreadContext.Clear();
        Assert.Empty(Published());
        Assert.Equal(0, CurrentRecord());
    }

    [Fact]
    public void In_place_update_works_on_the_thread_owned_record()
    {
        ThreadContext.Set(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.None);
        var traceId = ActivityTraceId.CreateRandom();
        Assert.True(ThreadContext.UpdateIds(traceId, ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded));
        Assert.Equal(traceId.ToHexString(), Convert.ToHexStringLower(Published(), 0, 16));
        using (var update = ThreadContext.BeginUpdate())
        {
            Assert.True(update.IsActive);
            Assert.Null(update.Record);
            Assert.Equal(0, Published()[24]);
        }

        Assert.Equal(1, Published()[24]);
    }

    [Fact]
    public void Attribute_blocks_cut_long_values_and_drop_what_does_not_fit()
    {
        var key = ThreadContextKeys.Register("test.set.long");
        var builder = new ThreadContextAttributesBuilder();
        Assert.Equal(AttributeResult.Truncated, builder.Add(key, new string('é', 200)));
        Assert.Equal(AttributeResult.Written, builder.Add(key, new string('x', 255)));
        Assert.Equal(AttributeResult.Dropped, builder.Add(key, new string('y', 200)));
        var block = builder.Build();
        Assert.Equal(2 + 254 + 2 + 255, block.Length);

        ThreadContext.Set(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.None, block);
        var bytes = Published();
        Assert.Equal(254, bytes[29]);
        Assert.Equal(new string('é', 127), Encoding.UTF8.GetString(bytes, 30, 254));
    }

    /// <summary>Writers publish (ids, attributes) combinations where every byte follows from one k; a SIGPROF handler
    /// interrupting the writer checks that every record it finds is whole and valid.</summary>
    [Fact]
    public void A_reader_interrupting_the_thread_sees_only_whole_valid_records()
    {
        var key = ThreadContextKeys.Register("test.sampler");
        var contexts = new (ActivityTraceId Trace, ActivitySpanId Span, ActivityTraceFlags Flags, ThreadContextAttributes Attributes)[255];
        for (var k = 1; k <= 255; k++)
        {
            var bytes = Enumerable.Repeat((byte)k, 16).ToArray();
            contexts[k - 1] = (ActivityTraceId.CreateFromBytes(bytes), ActivitySpanId.CreateFromBytes(bytes.AsSpan(0, 8)), (ActivityTraceFlags)(k & 1),
                ThreadContextAttributes.Create(key, new string((char)('a' + (k % 26)), 1 + (k % 40))));
        }

        using var sampler = Sampler.Install(key.Index, checkSpan: true);
        using var stop = new ManualResetEventSlim();
        ulong writerThread = 0;
        long writes = 0;
        using var ready = new ManualResetEventSlim();
        var writer = new Thread(() =>
        {
            ThreadContext.Set(contexts[0].Trace, contexts[0].Span, contexts[0].Flags, contexts[0].Attributes);
            sampler.RegisterThisThread();
            writerThread = sampler.ThisThread();
            ready.Set();
            var i = 0;
            while (!stop.IsSet)
            {
                var c = contexts[i];
                ThreadContext.Set(c.Trace, c.Span, c.Flags, c.Attributes);
                i = i == 254 ? 0 : i + 1;
                writes++;
            }

            ThreadContext.Clear();
        });
        writer.Start();
        ready.Wait();
        var landed = sampler.Interrupt(writerThread, 100_000);
        stop.Set();
        writer.Join();

        var counts = sampler.Read();
        Assert.Equal(0, counts.Torn);
        Assert.Equal(0, counts.Invalid);
        Assert.True(landed > 90_000 && counts.Checked >= landed, $"{landed:N0} of 100,000 interrupts landed ({counts}) while {writes:N0} writes ran");
    }
}
