using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;

namespace OtelThreadCtx.OpenTelemetry.Tests;

/// <summary>The calling thread's record, decoded from the bytes a reader sees (ThreadContext.ReadCurrent).</summary>
internal sealed record Published(string TraceId, string SpanId, byte Flags, IReadOnlyDictionary<string, string> Attributes)
{
    public static Published? OnThisThread()
    {
        Span<byte> record = stackalloc byte[640];
        var length = ThreadContext.ReadCurrent(record);
        if (length == 0)
        {
            return null;
        }

        Assert.True(length >= 28, $"a record is at least its 28-byte header; read {length}");
        Assert.Equal(1, record[24]); // valid
        var used = BinaryPrimitives.ReadUInt16LittleEndian(record[26..]);
        Assert.Equal(28 + used, length);
        var names = ThreadContextKeys.Names;
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var entries = record.Slice(28, used); entries.Length > 0; entries = entries[(2 + entries[1])..])
        {
            attributes[names[entries[0]]] = Encoding.UTF8.GetString(entries.Slice(2, entries[1]));
        }

        return new Published(Convert.ToHexStringLower(record[..16]), Convert.ToHexStringLower(record[16..24]), record[25], attributes);
    }

    public static Published Of(Activity activity, params (string Key, string Value)[] attributes) =>
        new(activity.TraceId.ToHexString(), activity.SpanId.ToHexString(), (byte)activity.ActivityTraceFlags, attributes.ToDictionary(a => a.Key, a => a.Value));

    public bool Matches(Activity activity) =>
        TraceId == activity.TraceId.ToHexString() && SpanId == activity.SpanId.ToHexString() && Flags == (byte)activity.ActivityTraceFlags;
}
