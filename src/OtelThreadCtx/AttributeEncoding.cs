using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text.Unicode;

namespace OtelThreadCtx;

/// <summary>Appends OTEP 4947 attribute entries (<c>key_index:u8, length:u8, value[length]</c>) to a block, with the
/// one truncation rule every writer shares: a value over 255 UTF-8 bytes is cut at a character boundary.</summary>
internal static unsafe class AttributeEncoding
{
    /// <summary>Longest value <see cref="TryAppendShort"/> takes.</summary>
    public const int ShortValueLength = 32;

    /// <summary>The common case of <see cref="Append(Span{byte}, ref int, byte, ReadOnlySpan{byte})"/>, inlined into the
    /// caller: a value of at most <see cref="ShortValueLength"/> bytes (never cut) that fits in the
    /// <paramref name="capacity"/> bytes at <paramref name="block"/>, copied with two overlapping loads and stores instead of
    /// a call (a 16-byte attribute cost a third of <c>AddAttribute</c> in a call to <c>Memmove</c>). False, with nothing
    /// written: take the general path.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryAppendShort(byte* block, int capacity, ref int used, byte keyIndex, ReadOnlySpan<byte> utf8Value)
    {
        var length = utf8Value.Length;
        if (length > ShortValueLength || (uint)used > (uint)(capacity - 2 - length))
        {
            return false;
        }

        var entry = block + used;
        entry[0] = keyIndex;
        entry[1] = (byte)length;
        CopyShort(entry + 2, ref MemoryMarshal.GetReference(utf8Value), length);
        used += 2 + length;
        return true;
    }

    /// <summary>Copies <paramref name="length"/> (0 to 32) bytes: the first and the last 16, 8, 4 or 1 of them, which
    /// overlap, so that no byte outside either range is read or written.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyShort(byte* destination, ref byte source, int length)
    {
        if (length >= 16)
        {
            Vector128.LoadUnsafe(ref source).Store(destination);
            Vector128.LoadUnsafe(ref source, (nuint)(length - 16)).Store(destination + length - 16);
        }
        else if (length >= 8)
        {
            Unsafe.WriteUnaligned(destination, Unsafe.ReadUnaligned<ulong>(ref source));
            Unsafe.WriteUnaligned(destination + length - 8, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref source, length - 8)));
        }
        else if (length >= 4)
        {
            Unsafe.WriteUnaligned(destination, Unsafe.ReadUnaligned<uint>(ref source));
            Unsafe.WriteUnaligned(destination + length - 4, Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref source, length - 4)));
        }
        else if (length > 0)
        {
            destination[0] = source;
            destination[length >> 1] = Unsafe.Add(ref source, length >> 1);
            destination[length - 1] = Unsafe.Add(ref source, length - 1);
        }
    }

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
