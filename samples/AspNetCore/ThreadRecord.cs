using System.Buffers.Binary;
using System.Text;
using OtelThreadCtx;

namespace OtelThreadCtx.Samples.AspNetCore;

/// <summary>The calling thread's OTEP 4947 record decoded as a profiler decodes it: ids, flags, and attributes named
/// through the process context's key map.</summary>
public sealed record ThreadRecord(string TraceId, string SpanId, int TraceFlags, IReadOnlyDictionary<string, string> Attributes)
{
    private const int HeaderSize = 28;

    /// <summary>What the thread publishes now, or null when it publishes nothing.</summary>
    public static ThreadRecord? ReadCurrent()
    {
        Span<byte> record = stackalloc byte[640];
        var length = ThreadContext.ReadCurrent(record);
        return length < HeaderSize ? null : Decode(record[..length]);
    }

    /// <summary>Decodes a record: trace id (16 bytes), span id (8), valid (1), flags (1), attribute bytes (u16 LE), then
    /// <c>key index, length, value</c> entries.</summary>
    public static ThreadRecord Decode(ReadOnlySpan<byte> record)
    {
        var keys = ThreadContextKeys.Names;
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        var used = BinaryPrimitives.ReadUInt16LittleEndian(record[26..]);
        var entries = record.Slice(HeaderSize, Math.Min(used, record.Length - HeaderSize));
        while (entries.Length >= 2 && entries.Length >= 2 + entries[1])
        {
            var key = entries[0] < keys.Count ? keys[entries[0]] : $"#{entries[0]}";
            attributes[key] = Encoding.UTF8.GetString(entries.Slice(2, entries[1]));
            entries = entries[(2 + entries[1])..];
        }

        return new ThreadRecord(Convert.ToHexStringLower(record[..16]), Convert.ToHexStringLower(record[16..24]), record[25], attributes);
    }
}

/// <summary>Work a sampling profiler can see.</summary>
public static class CpuWork
{
    public static long Spin(TimeSpan duration)
    {
        var end = DateTime.UtcNow + duration;
        long iterations = 0;
        while (DateTime.UtcNow < end)
        {
            iterations++;
        }

        return iterations;
    }
}
