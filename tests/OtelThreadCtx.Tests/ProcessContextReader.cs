using System.Buffers.Binary;
using OtelThreadCtx.Protocol.Common;
using ProcessContextMessage = OtelThreadCtx.Protocol.ProcessContextV1Development.ProcessContext;

namespace OtelThreadCtx.Tests;

/// <summary>Reads an OTEP 4719 process context from outside the publisher, as a profiler does:
/// /proc/&lt;pid&gt;/maps to find the mapping, /proc/&lt;pid&gt;/mem to read header and payload, the payload decoded strictly
/// as the OTEP's <c>opentelemetry.proto.processcontext.v1development.ProcessContext</c>.</summary>
internal static class ProcessContextReader
{
    public sealed record Snapshot(string MapsLine, string Signature, uint Version, uint PayloadSize, ulong PublishedAtNs, ProcessContextMessage Context)
    {
        /// <summary><c>ProcessContext.resource</c>'s attributes by key.</summary>
        public Dictionary<string, AnyValue> Resource => ByKey(Context.Resource?.Attributes ?? []);

        /// <summary><c>ProcessContext.attributes</c> by key (OTEP 4947's <c>threadlocal.*</c>).</summary>
        public Dictionary<string, AnyValue> Attributes => ByKey(Context.Attributes);

        /// <summary>The published key map, index = key index.</summary>
        public List<string> KeyMap => Attributes["threadlocal.attribute_key_map"].ArrayValue.Values.Select(v => v.StringValue).ToList();

        private static Dictionary<string, AnyValue> ByKey(IEnumerable<KeyValue> values) => values.ToDictionary(a => a.Key, a => a.Value, StringComparer.Ordinal);
    }

    public enum ReadOutcome
    {
        Consistent,
        InProgress,
        ChangedDuringRead,
    }

    private static readonly string[] Names = ["/memfd:OTEL_CTX", "[anon_shmem:OTEL_CTX]", "[anon:OTEL_CTX]"];

    public static (ulong Address, string Line)? FindMapping(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/maps"))
        {
            if (Names.Any(n => line.Contains(n, StringComparison.Ordinal)))
            {
                var start = line[..line.IndexOf('-', StringComparison.Ordinal)];
                return (Convert.ToUInt64(start, 16), line);
            }
        }

        return null;
    }

    private static byte[] ReadMemory(FileStream mem, ulong address, int length)
    {
        var buffer = new byte[length];
        mem.Seek((long)address, SeekOrigin.Begin);
        mem.ReadExactly(buffer);
        return buffer;
    }

    /// <summary>One read with the reader's consistency protocol: header, payload, header again.</summary>
    public static (ReadOutcome Outcome, Snapshot? Snapshot) Read(int pid)
    {
        var mapping = FindMapping(pid) ?? throw new InvalidOperationException($"no OTEL_CTX mapping in /proc/{pid}/maps");
        using var mem = new FileStream($"/proc/{pid}/mem", FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
        var header = ReadMemory(mem, mapping.Address, 32);
        var signature = System.Text.Encoding.ASCII.GetString(header, 0, 8);
        var version = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8));
        var size = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(12));
        var publishedAt = BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(16));
        var payloadAddress = BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(24));
        if (publishedAt == 0)
        {
            return (ReadOutcome.InProgress, null);
        }

        var payload = ReadMemory(mem, payloadAddress, (int)size);
        var again = ReadMemory(mem, mapping.Address, 32);
        if (BinaryPrimitives.ReadUInt64LittleEndian(again.AsSpan(16)) != publishedAt)
        {
            return (ReadOutcome.ChangedDuringRead, null);
        }

        // Timestamp unchanged across the read: the payload must decode.
        return (ReadOutcome.Consistent, new Snapshot(mapping.Line, signature, version, size, publishedAt, ProcessContextMessage.Parser.ParseFrom(payload)));
    }
}
