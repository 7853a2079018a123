using System.Buffers.Binary;
using Google.Protobuf;
using OtelThreadCtx.Protocol.ProcessContextV1Development;
using OtelThreadCtx.Tool.Output;
using OtelThreadCtx.Protocol.Common;

namespace OtelThreadCtx.Tool.Live;

/// <summary>
/// OTEP 4719 reading protocol: find the OTEL_CTX mapping, check signature and version, read the timestamp (non-zero),
/// copy the payload, read the timestamp again (retry on change), decode strictly as ProcessContext.
/// </summary>
internal static class ProcessContextReader
{
    public const string SchemaVersionKey = "threadlocal.schema_version";
    public const string KeyMapKey = "threadlocal.attribute_key_map";
    private const int HeaderSize = 32;
    private const int MaxPayload = 16 << 20;
    private static readonly byte[] Signature = "OTEL_CTX"u8.ToArray();

    public static bool IsContextMapping(string name) =>
        name.StartsWith("/memfd:OTEL_CTX", StringComparison.Ordinal)
        || name == "[anon_shmem:OTEL_CTX]"
        || name == "[anon:OTEL_CTX]";

    public static ProcessContextReport Read(RemoteMemory memory, IReadOnlyList<MapEntry> maps)
    {
        var mapping = maps.FirstOrDefault(m => IsContextMapping(m.Name) && m.Offset == 0);
        if (mapping is null)
        {
            return ProcessContextReport.Missing("no OTEL_CTX mapping in /proc/<pid>/maps: the process publishes no process context (OTEP 4719)");
        }

        var where = $"{mapping.Name} at 0x{mapping.Start:x}";
        for (var attempt = 0; attempt < 5; attempt++)
        {
            Span<byte> header = stackalloc byte[HeaderSize];
            if (!memory.TryRead(mapping.Start, header, out var errno))
            {
                return ProcessContextReport.Failed(where, $"cannot read the header: {Native.Describe(errno)}");
            }

            if (!header[..8].SequenceEqual(Signature))
            {
                return ProcessContextReport.Failed(where, "signature is not \"OTEL_CTX\"");
            }

            var version = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
            var size = BinaryPrimitives.ReadUInt32LittleEndian(header[12..]);
            var published = BinaryPrimitives.ReadUInt64LittleEndian(header[16..]);
            var payloadAddress = BinaryPrimitives.ReadUInt64LittleEndian(header[24..]);
            if (version != 2)
            {
                return ProcessContextReport.Failed(where, $"version {version}, this reader knows version 2");
            }

            if (published == 0)
            {
                // An update is under way: wait for it.
                Thread.Sleep(1);
                continue;
            }

            if (size > MaxPayload)
            {
                return ProcessContextReport.Failed(where, $"payload_size {size} is implausible (over {MaxPayload} bytes)");
            }

            Interlocked.MemoryBarrier();
            var payload = new byte[size];
            if (!memory.TryRead(payloadAddress, payload, out errno))
            {
                return ProcessContextReport.Failed(where, $"cannot read the payload ({size} bytes at 0x{payloadAddress:x}): {Native.Describe(errno)}");
            }

            Interlocked.MemoryBarrier();
            if (!memory.TryReadU64(mapping.Start + 16, out var again) || again != published)
            {
                continue;
            }

            return Decode(where, version, published, payload);
        }

        return ProcessContextReport.Failed(where, "the context kept changing (or stayed mid-update) over 5 reads");
    }

    /// <summary>Decodes strictly: a payload that does not parse as ProcessContext, or carries fields it does not define, is an error.</summary>
    public static ProcessContextReport Decode(string where, uint version, ulong published, byte[] payload)
    {
        ProcessContext context;
        try
        {
            context = ProcessContext.Parser.ParseFrom(payload);
            var known = ProcessContext.Parser.WithDiscardUnknownFields(true).ParseFrom(payload);
            if (known.CalculateSize() != context.CalculateSize())
            {
                return ProcessContextReport.Failed(where, $"payload ({payload.Length} bytes) is not an opentelemetry.proto.processcontext.v1development.ProcessContext: it carries fields that message does not define (a bare Resource, or another message?)");
            }
        }
        catch (InvalidProtocolBufferException e)
        {
            return ProcessContextReport.Failed(where, $"payload ({payload.Length} bytes) is not an opentelemetry.proto.processcontext.v1development.ProcessContext: {e.Message}");
        }

        var resource = new Dictionary<string, string>(StringComparer.Ordinal);
        if (context.Resource is not null)
        {
            foreach (var kv in context.Resource.Attributes)
            {
                resource[kv.Key] = Render(kv.Value);
            }
        }

        string? schema = null;
        List<string>? keyMap = null;
        var others = new Dictionary<string, string>(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var kv in context.Attributes)
        {
            if (kv.Key == SchemaVersionKey)
            {
                schema = kv.Value?.ValueCase == AnyValue.ValueOneofCase.StringValue ? kv.Value.StringValue : null;
                if (schema is null)
                {
                    problems.Add($"{SchemaVersionKey} is not a string");
                }
            }
            else if (kv.Key == KeyMapKey)
            {
                if (kv.Value?.ValueCase == AnyValue.ValueOneofCase.ArrayValue && kv.Value.ArrayValue.Values.All(v => v.ValueCase == AnyValue.ValueOneofCase.StringValue))
                {
                    keyMap = kv.Value.ArrayValue.Values.Select(v => v.StringValue).ToList();
                }
                else
                {
                    problems.Add($"{KeyMapKey} is not an array of strings");
                }
            }
            else
            {
                others[kv.Key] = Render(kv.Value);
            }
        }

        if (schema is null && !problems.Any(p => p.StartsWith(SchemaVersionKey, StringComparison.Ordinal)))
        {
            problems.Add($"{SchemaVersionKey} is not published: readers defer reading thread context (OTEP 4947)");
        }
        else if (schema is not null && schema != "tlsdesc_v1_dev")
        {
            problems.Add($"{SchemaVersionKey} is \"{schema}\", this reader knows \"tlsdesc_v1_dev\"");
        }

        if (keyMap is null && !problems.Any(p => p.StartsWith(KeyMapKey, StringComparison.Ordinal)))
        {
            problems.Add($"{KeyMapKey} is not published: attribute key indexes cannot be named; readers defer (OTEP 4947)");
        }

        if (context.Resource is null)
        {
            problems.Add("the ProcessContext has no resource");
        }

        return new ProcessContextReport(true, true, where, version, (uint)payload.Length, published, resource, others, schema, keyMap, problems, null);
    }

    private static string Render(AnyValue? v) => v is null ? "" : v.ValueCase switch
    {
        AnyValue.ValueOneofCase.StringValue => v.StringValue,
        AnyValue.ValueOneofCase.IntValue => v.IntValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.BoolValue => v.BoolValue ? "true" : "false",
        AnyValue.ValueOneofCase.DoubleValue => v.DoubleValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.ArrayValue => "[" + string.Join(", ", v.ArrayValue.Values.Select(Render)) + "]",
        AnyValue.ValueOneofCase.BytesValue => Hex.Lower(v.BytesValue.Span),
        _ => v.ToString(),
    };
}
