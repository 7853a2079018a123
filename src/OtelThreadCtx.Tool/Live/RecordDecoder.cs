using System.Buffers.Binary;
using System.Text;
using OtelThreadCtx.Tool.Output;

namespace OtelThreadCtx.Tool.Live;

/// <summary>OTEP 4947's record: trace_id[16], span_id[8], valid, trace_flags, attrs_data_size u16, attrs_data.</summary>
internal static class RecordDecoder
{
    public const int HeaderSize = 28;

    /// <summary>The eBPF profiler reads at most 640 bytes of record.</summary>
    public const int MaxRecordSize = 640;

    public const int MaxAttrsSize = MaxRecordSize - HeaderSize;

    public static int AttrsSize(ReadOnlySpan<byte> header) => BinaryPrimitives.ReadUInt16LittleEndian(header[26..]);

    public static RecordReport Decode(ReadOnlySpan<byte> header, ReadOnlySpan<byte> attrs, IReadOnlyList<string>? keyMap, List<string>? extraProblems = null)
    {
        var problems = extraProblems ?? [];
        var valid = header[24];
        if (valid != 1)
        {
            problems.Add($"valid = {valid}: readers ignore this record (1 = valid)");
        }

        var list = new List<AttributeReport>();
        var offset = 0;
        while (offset < attrs.Length)
        {
            if (offset + 2 > attrs.Length || offset + 2 + attrs[offset + 1] > attrs.Length)
            {
                problems.Add($"attribute entry at offset {offset} does not fit in attrs_data_size {attrs.Length}: readers stop there");
                break;
            }

            var key = attrs[offset];
            var length = attrs[offset + 1];
            var value = attrs.Slice(offset + 2, length);
            string text;
            try
            {
                text = new UTF8Encoding(false, true).GetString(value);
            }
            catch (DecoderFallbackException)
            {
                text = Hex.Lower(value);
                problems.Add($"attribute {key}: value is not UTF-8 (shown as hex)");
            }

            string? name = keyMap is not null && key < keyMap.Count ? keyMap[key] : null;
            if (keyMap is not null && name is null)
            {
                problems.Add($"key index {key} is not in threadlocal.attribute_key_map ({keyMap.Count} keys)");
            }

            list.Add(new AttributeReport(key, name, text));
            offset += 2 + length;
        }

        return new RecordReport(
            Hex.Lower(header[..16]),
            Hex.Lower(header.Slice(16, 8)),
            header[25],
            valid,
            AttrsSize(header),
            list,
            problems);
    }
}
