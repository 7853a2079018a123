using System.Buffers;
using System.Text.Unicode;

namespace OtelThreadCtx;

/// <summary>Appends OTEP 4947 attribute entries (<c>key_index:u8, length:u8, value[length]</c>) to a block, with the
/// one truncation rule every writer shares: a value over 255 UTF-8 bytes is cut at a character boundary.</summary>
internal static class AttributeEncoding
{
    /// <summary>Appends one entry at <paramref name="used"/>; on success advances it.</summary>
    public static AttributeResult Append(Span<byte> block, ref int used, byte keyIndex, ReadOnlySpan<byte> utf8Value)
    {
        var truncated = false;
        if (utf8Value.Length > RecordLayout.MaxValueLength)
        {
            var cut = RecordLayout.MaxValueLength;
            // Step back over continuation bytes (10xxxxxx) so that a character is never split.
            while (cut > 0 && (utf8Value[cut] & 0xC0) == 0x80)
            {
                cut--;
            }

            utf8Value = utf8Value[..cut];
            truncated = true;
        }

        var entry = 2 + utf8Value.Length;
        if (used < 0 || entry > block.Length - used)
        {
            return AttributeResult.Dropped;
        }

        block[used] = keyIndex;
        block[used + 1] = (byte)utf8Value.Length;
        utf8Value.CopyTo(block[(used + 2)..]);
        used += entry;
        return truncated ? AttributeResult.Truncated : AttributeResult.Written;
    }

    /// <summary>Appends one entry from UTF-16 text (invalid sequences replaced).</summary>
    public static AttributeResult Append(Span<byte> block, ref int used, byte keyIndex, ReadOnlySpan<char> value)
    {
        // One byte more than a value may hold, so that a cut is detected and made at a character boundary.
        Span<byte> utf8 = stackalloc byte[RecordLayout.MaxValueLength + 1];
        var status = Utf8.FromUtf16(value, utf8, out _, out var written, replaceInvalidSequences: true, isFinalBlock: true);
        var result = Append(block, ref used, keyIndex, utf8[..written]);
        return result == AttributeResult.Written && status == OperationStatus.DestinationTooSmall ? AttributeResult.Truncated : result;
    }
}
