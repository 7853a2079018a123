using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;

namespace OtelThreadCtx.Tests;

/// <summary>The bytes a reader sees, read back through the native library, against the OTEP 4947 layout.</summary>
[Collection(NativeCollection.Name)]
public sealed class RecordLayoutTests : IDisposable
{
    public RecordLayoutTests() => Assert.True(ThreadContext.IsSupported, "libotel_thread_ctx.so must load on Linux x64/arm64");

    private readonly List<ThreadContextRecord> records = [];

    private ThreadContextRecord Track(ThreadContextRecord record)
    {
        records.Add(record);
        return record;
    }

    public void Dispose()
    {
        ThreadContext.Detach();
        records.ForEach(r => r.Dispose());
    }

    private static byte[] Published()
    {
        var buffer = new byte[ThreadContextRecord.Size];
        var length = ThreadContext.ReadCurrent(buffer);
        return buffer[..length];
    }

    [Fact]
    public void Header_fields_sit_at_offsets_0_16_24_25_26_and_attributes_at_28()
    {
        var traceId = ActivityTraceId.CreateFromString("0af7651916cd43dd8448eb211c80319c");
        var spanId = ActivitySpanId.CreateFromString("b7ad6b7169203331");
        var key = ThreadContextKeys.Register("http.route");
        var record = Track(new ThreadContextRecord());
        record.SetIds(traceId, spanId, ActivityTraceFlags.Recorded);
        Assert.Equal(AttributeResult.Written, record.AddAttribute(key, "/orders/{id}"));

        ThreadContext.Attach(record);
        var bytes = Published();

        Assert.Equal(Convert.FromHexString("0af7651916cd43dd8448eb211c80319c"), bytes[0..16]);
        Assert.Equal(Convert.FromHexString("b7ad6b7169203331"), bytes[16..24]);
        Assert.Equal(1, bytes[24]);
        Assert.Equal(1, bytes[25]);
        var size = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(26, 2));
        Assert.Equal(2 + "/orders/{id}".Length, size);
        Assert.Equal(28 + size, bytes.Length);
        Assert.Equal(key.Index, bytes[28]);
        Assert.Equal("/orders/{id}".Length, bytes[29]);
        Assert.Equal("/orders/{id}", Encoding.UTF8.GetString(bytes, 30, bytes[29]));
    }

    [Fact]
    public void Long_values_are_cut_to_255_bytes_at_a_utf8_boundary()
    {
        var key = ThreadContextKeys.Register("test.long");
        // "é" is two bytes: 200 of them are 400 bytes; 255 would split one, so 254 are kept.
        var value = new string('é', 200);
        var record = Track(new ThreadContextRecord());

        Assert.Equal(AttributeResult.Truncated, record.AddAttribute(key, value));
        ThreadContext.Attach(record);
        var bytes = Published();

        Assert.Equal(254, bytes[29]);
        Assert.Equal(new string('é', 127), Encoding.UTF8.GetString(bytes, 30, 254));
    }

    [Fact]
    public void Entries_that_no_longer_fit_are_dropped_whole_and_reported()
    {
        var key = ThreadContextKeys.Register("test.fill");
        var record = Track(new ThreadContextRecord());
        var value = new string('x', 200);

        // 3 entries of 202 bytes = 606 of 612: the fourth (202) does not fit, a 4-byte one does.
        Assert.Equal(AttributeResult.Written, record.AddAttribute(key, value));
        Assert.Equal(AttributeResult.Written, record.AddAttribute(key, value));
        Assert.Equal(AttributeResult.Written, record.AddAttribute(key, value));
        Assert.Equal(AttributeResult.Dropped, record.AddAttribute(key, value));
        Assert.Equal(AttributeResult.Written, record.AddAttribute(key, "abcd"));
        Assert.Equal(AttributeResult.Dropped, record.AddAttribute(key, "a"));

        ThreadContext.Attach(record);
        var bytes = Published();
        Assert.Equal(612, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(26, 2)));
        Assert.Equal(640, bytes.Length);
        Assert.Equal("abcd", Encoding.UTF8.GetString(bytes, 28 + 606 + 2, 4));
    }

    [Fact]
    public void Utf8_values_of_every_short_length_land_whole_back_to_back_up_to_the_last_byte()
    {
        var key = ThreadContextKeys.Register("test.utf8");
        var record = Track(new ThreadContextRecord());
        var expected = new List<byte>();

        // Lengths 0 to 32 but 32 (every copy of the short path) and 33 (the first past it), each value a different pattern
        // (595 bytes), then one that ends exactly at byte 612, then an empty one that no longer fits.
        static byte[] Value(int length, int salt) => Enumerable.Range(0, length).Select(i => (byte)('A' + ((i * 7) + salt) % 26)).ToArray();
        foreach (var length in Enumerable.Range(0, 32).Append(33))
        {
            var value = Value(length, length);
            Assert.Equal(AttributeResult.Written, record.AddAttribute(key, value));
            expected.AddRange([key.Index, (byte)length, .. value]);
        }

        var last = Value(612 - expected.Count - 2, 99);
        Assert.Equal(AttributeResult.Written, record.AddAttribute(key, last));
        expected.AddRange([key.Index, (byte)last.Length, .. last]);
        Assert.Equal(AttributeResult.Dropped, record.AddAttribute(key, ReadOnlySpan<byte>.Empty));

        ThreadContext.Attach(record);
        var bytes = Published();
        Assert.Equal(612, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(26, 2)));
        Assert.Equal(expected.ToArray(), bytes[28..]);
    }

    [Fact]
    public void In_place_update_rewrites_ids_and_leaves_the_record_valid()
    {
        var record = Track(new ThreadContextRecord());
        ThreadContext.Attach(record);
        var traceId = ActivityTraceId.CreateRandom();
        var spanId = ActivitySpanId.CreateRandom();

        Assert.True(ThreadContext.UpdateIds(traceId, spanId, ActivityTraceFlags.None));
        var bytes = Published();

        Assert.Equal(traceId.ToHexString(), Convert.ToHexStringLower(bytes[0..16]));
        Assert.Equal(spanId.ToHexString(), Convert.ToHexStringLower(bytes[16..24]));
        Assert.Equal(1, bytes[24]);
        Assert.Equal(0, bytes[25]);
    }

    [Fact]
    public void Begin_update_marks_the_record_invalid_until_disposed()
    {
        var record = Track(new ThreadContextRecord());
        ThreadContext.Attach(record);

        using (var update = ThreadContext.BeginUpdate())
        {
            Assert.True(update.IsActive);
            Assert.Equal(0, Published()[24]);
            update.Record!.ClearAttributes();
        }

        Assert.Equal(1, Published()[24]);
    }
}
